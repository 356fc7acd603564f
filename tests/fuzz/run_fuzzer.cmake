# cmake -DFUZZER=<binary> -DSEEDS=<corpus dir> -DWORK=<scratch dir>
#       -DRUNS=<n> -P run_fuzzer.cmake
# Runs one libFuzzer binary for RUNS inputs from seed 1. New inputs go to
# WORK/corpus (emptied first), never into the checked-in SEEDS; a crash
# leaves its input as WORK/crash-*.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus)
execute_process(
  COMMAND ${FUZZER} -seed=1 -runs=${RUNS} -max_total_time=90 -timeout=10
          -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=${WORK}/
          ${WORK}/corpus ${SEEDS}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (${rc}); its input is in ${WORK}")
endif()
