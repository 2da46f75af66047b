# quantize --report: the student's training object carries the figures
# tools/bench/qat.sh reads, as train --json gives them for an FP32 run:
# the step count, the steady-state images/s (null with one step), and the
# RSS once model and data are loaded and the peak when training ended.
#   -DQFD=<qfd-onnx> -DMODEL=<onnx> -DREPORT=<json to write> -DLIMIT=<images> -DBATCH=<batch> -DSTEPS=<expected>
execute_process(COMMAND "${QFD}" quantize "${MODEL}" --method lsq --limit ${LIMIT} --batch ${BATCH} --epochs 1
                        --calib-images ${LIMIT} --eval-limit 64 --no-augment -o "${REPORT}.onnx" --report "${REPORT}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "quantize exited ${rc}\n${out}\n${err}")
endif()
file(READ "${REPORT}" json)
foreach(key steps steady_images_per_second rss_loaded_mb rss_peak_mb images_per_second)
  string(JSON ${key} ERROR_VARIABLE e GET "${json}" training ${key})
  if(e)
    message(FATAL_ERROR "training.${key}: ${e}\n${json}")
  endif()
endforeach()
if(NOT steps EQUAL STEPS)
  message(FATAL_ERROR "training.steps is ${steps}, expected ${STEPS}")
endif()
if(STEPS LESS 2)
  string(JSON type TYPE "${json}" training steady_images_per_second)
  if(NOT type STREQUAL "NULL")
    message(FATAL_ERROR "one step has no steady state: steady_images_per_second should be null, got ${type} '${steady_images_per_second}'")
  endif()
elseif(NOT steady_images_per_second MATCHES "^[0-9]+(\\.[0-9]+)?$" OR steady_images_per_second LESS_EQUAL 0)
  message(FATAL_ERROR "training.steady_images_per_second is '${steady_images_per_second}', expected a positive number")
endif()
# (string(JSON) gives numbers back in its own notation; if() compares them as reals)
foreach(key rss_loaded_mb rss_peak_mb)
  if(NOT ${key} MATCHES "^[0-9]+(\\.[0-9]+)?$" OR ${key} LESS_EQUAL 0)
    message(FATAL_ERROR "training.${key} is '${${key}}', expected a positive number of MB")
  endif()
endforeach()
if(rss_peak_mb LESS rss_loaded_mb)
  message(FATAL_ERROR "training.rss_peak_mb ${rss_peak_mb} is below rss_loaded_mb ${rss_loaded_mb}")
endif()
