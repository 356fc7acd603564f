# cmake -DSEEDS=<fuzz_seeds> -DCORPUS=<tests/fuzz/corpus> -DWORK=<dir>
#       -P seeds_test.cmake
# Fails when the checked-in seeds (seed-*) differ from what fuzz_seeds
# writes now. Refresh: fuzz_seeds tests/fuzz/corpus (docs/FUZZING.md).
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${SEEDS} ${WORK} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz_seeds failed (${rc})")
endif()
file(GLOB_RECURSE fresh RELATIVE ${WORK} ${WORK}/*/seed-*)
file(GLOB_RECURSE kept RELATIVE ${CORPUS} ${CORPUS}/*/seed-*)
list(SORT fresh)
list(SORT kept)
if(NOT fresh STREQUAL kept)
  message(FATAL_ERROR "seed files differ:\n now: ${fresh}\n kept: ${kept}")
endif()
foreach(f IN LISTS fresh)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/${f}
                          ${CORPUS}/${f} RESULT_VARIABLE diff)
  if(NOT diff EQUAL 0)
    message(FATAL_ERROR "${f} is stale: run fuzz_seeds ${CORPUS}")
  endif()
endforeach()
