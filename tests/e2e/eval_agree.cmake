# qfd-onnx eval and ONNX Runtime (tools/ort/eval.js) on the same test images
# must agree on top-1 accuracy, and reach MIN_TOP1.
#   -DQFD=<qfd-onnx> -DNODE=<node> -DORT_EVAL=<eval.js> -DMODEL=<onnx> -DLIMIT=<n> -DMIN_TOP1=<x>
execute_process(COMMAND ${QFD} eval ${MODEL} --limit ${LIMIT} --batch 100 --json
                RESULT_VARIABLE rc1 OUTPUT_VARIABLE q ERROR_VARIABLE qerr)
execute_process(COMMAND ${NODE} ${ORT_EVAL} ${MODEL} --limit ${LIMIT} --batch 100
                RESULT_VARIABLE rc2 OUTPUT_VARIABLE o ERROR_VARIABLE oerr)
if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0)
  message(FATAL_ERROR "eval failed:\nqfd-onnx (${rc1}): ${q}${qerr}\nonnxruntime (${rc2}): ${o}${oerr}")
endif()
string(JSON qtop GET "${q}" top1)
string(JSON qn GET "${q}" n)
string(JSON otop GET "${o}" top1)
string(JSON on GET "${o}" n)
message(STATUS "qfd-onnx top1 ${qtop} on ${qn}, onnxruntime top1 ${otop} on ${on}")
execute_process(COMMAND ${NODE} -e "const d=Math.round(${qtop}*${qn})-Math.round(${otop}*${on});process.stdout.write(String(Math.abs(d)))"
                OUTPUT_VARIABLE diff)
if(NOT qn EQUAL on OR NOT diff EQUAL 0)
  message(FATAL_ERROR "top-1 differs: qfd-onnx ${qtop} on ${qn} images, onnxruntime ${otop} on ${on} (${diff} images)")
endif()
if(qtop LESS MIN_TOP1)
  message(FATAL_ERROR "top-1 ${qtop} below ${MIN_TOP1}")
endif()
