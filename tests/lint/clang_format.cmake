# Fails when any tracked C source or header differs from what clang-format
# makes of it with the repository's .clang-format (run tools/format.sh).
execute_process(COMMAND git ls-files "*.c" "*.h" WORKING_DIRECTORY "${ROOT}"
                OUTPUT_VARIABLE files RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0 OR files STREQUAL "")
  message(FATAL_ERROR "git ls-files found no C files under ${ROOT}")
endif()
string(REPLACE "\n" ";" files "${files}")
execute_process(COMMAND "${CLANG_FORMAT}" --dry-run --Werror ${files} WORKING_DIRECTORY "${ROOT}"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "not formatted as .clang-format says (fix: tools/format.sh):\n${err}")
endif()
list(LENGTH files n)
message(STATUS "${n} files formatted")
