# Golden-file test: regenerates the plugin output for every sample proto
# (samples/<x>/<x>.proto -> generated/<x>/) into WORK_DIR and fails with a
# unified diff on any difference. The same steps as
# scripts/refresh_generated.sh, which rewrites generated/.
#
#   cmake -DPROTOC=... -DPLUGIN=... -DSOURCE_DIR=... -DWORK_DIR=...
#         -P golden_test.cmake
foreach(var PROTOC PLUGIN SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "golden_test.cmake: -D${var}=... is required")
  endif()
endforeach()

file(REMOVE_RECURSE ${WORK_DIR})
file(GLOB protos ${SOURCE_DIR}/samples/*/*.proto)
if(NOT protos)
  message(FATAL_ERROR "no sample protos under ${SOURCE_DIR}/samples")
endif()

foreach(proto IN LISTS protos)
  get_filename_component(sample_dir ${proto} DIRECTORY)
  get_filename_component(sample ${sample_dir} NAME)
  file(MAKE_DIRECTORY ${WORK_DIR}/${sample})
  execute_process(
    COMMAND ${PROTOC} --plugin=protoc-gen-parley=${PLUGIN}
            -I ${SOURCE_DIR}/proto -I ${sample_dir}
            --parley_out=${WORK_DIR}/${sample} ${proto}
    RESULT_VARIABLE rc ERROR_VARIABLE err TIMEOUT 30)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "protoc failed on ${proto}:\n${err}")
  endif()
endforeach()

# The diff goes straight to the test's output, unwrapped.
execute_process(
  COMMAND diff -u -r -N ${SOURCE_DIR}/generated ${WORK_DIR}
  RESULT_VARIABLE rc TIMEOUT 30)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR
          "generated/ differs from the plugin's output (diff above: --- "
          "checked in, +++ generated now). If the change is intended, run "
          "scripts/refresh_generated.sh and review the diff.")
endif()

# Golden files read like hand-written code: clang-format leaves them alone.
find_program(CLANG_FORMAT NAMES clang-format clang-format-14)
if(CLANG_FORMAT)
  file(GLOB_RECURSE golden ${SOURCE_DIR}/generated/*.h
       ${SOURCE_DIR}/generated/*.cc)
  execute_process(
    COMMAND ${CLANG_FORMAT} --dry-run -Werror --style=file ${golden}
    RESULT_VARIABLE rc TIMEOUT 30)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "generated/ is not clang-format clean (see above)")
  endif()
endif()
list(LENGTH protos count)
message(STATUS "generated/ matches the plugin's output for ${count} proto(s)")
