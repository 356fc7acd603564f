# Installs the build in BUILD_DIR into WORK_DIR/prefix, then configures,
# builds and runs CONSUMER_DIR against it, as a user would:
#
#   cmake -DBUILD_DIR=... -DCONSUMER_DIR=... -DWORK_DIR=...
#         [-DBUILD_TYPE=...] [-DCXX=...] [-DCXX_FLAGS=...]
#         [-DLINK_FLAGS=...] -P package_test.cmake
foreach(var BUILD_DIR CONSUMER_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "package_test.cmake: -D${var}=... is required")
  endif()
endforeach()

# Runs one step; fails the test with its output when it fails.
function(step name)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out TIMEOUT 240)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} failed (${rc}):\n${out}")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
step("cmake --install" ${CMAKE_COMMAND} --install ${BUILD_DIR}
     --prefix ${prefix})
foreach(installed include/parley/client.h include/parley/options.proto
        include/parley/wire.proto include/parley/options.pb.h
        bin/protoc-gen-parley lib/cmake/Parley/ParleyConfig.cmake
        lib/cmake/Parley/ParleyGenerate.cmake)
  if(NOT EXISTS ${prefix}/${installed})
    message(FATAL_ERROR "not installed: ${installed}")
  endif()
endforeach()

# Only the prefix: nothing may come from the source or build tree.
step("configuring the consumer" ${CMAKE_COMMAND} -S ${CONSUMER_DIR}
     -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${prefix}
     -DCMAKE_BUILD_TYPE=${BUILD_TYPE} -DCMAKE_CXX_COMPILER=${CXX}
     -DCMAKE_CXX_FLAGS=${CXX_FLAGS} -DCMAKE_EXE_LINKER_FLAGS=${LINK_FLAGS}
     -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
step("building the consumer" ${CMAKE_COMMAND} --build ${WORK_DIR}/build -j2)
step("running the consumer" ${WORK_DIR}/build/greeter)
foreach(expected "Hello, world!" "world waves" "Hello, callbacks!")
  string(FIND "${output}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the consumer did not print \"${expected}\":\n${output}")
  endif()
endforeach()
message(STATUS "the installed package builds and runs a consumer:\n${output}")
