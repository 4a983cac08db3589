# SPDX-License-Identifier: MIT
# `xsr-bench --quick e2e`: xsr-router and xsr-load end to end through the
# benchmark suite (K = 2 and 50 clients, W = 1 and 64, ping, open loop, idle
# K=200: about 20 s).  Included from tests/bench.cmake to register the test;
# run with cmake -P (BENCH is the binary, OUT a path prefix for the JSON and
# SVG files) to check what the run printed and wrote: every run delivered
# everything it sent (the suite fails otherwise), the table and the JSON
# hold the expected figures, and the plot has the e2e panels.
# Not under sanitizers: test_load_e2e covers xsr-load and xsr-router there,
# and the suite's own logic is the same code as in the normal build.
if(NOT CMAKE_SCRIPT_MODE_FILE)
  if(TARGET xsr-bench AND TARGET xsr-load AND TARGET xsr-router AND NOT XSR_SANITIZE)
    add_test(NAME bench_e2e_quick
      COMMAND ${CMAKE_COMMAND}
        -DBENCH=$<TARGET_FILE:xsr-bench>
        -DOUT=${CMAKE_CURRENT_BINARY_DIR}/bench-e2e-quick
        -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(bench_e2e_quick PROPERTIES TIMEOUT 180)
  endif()
  if(TARGET xsr-bench)
    # The e2e options: a malformed --peer, or one given to another suite, is
    # a usage error (exit 2, before anything runs).
    add_test(NAME bench_e2e_usage
      COMMAND ${CMAKE_COMMAND} -DBENCH=$<TARGET_FILE:xsr-bench> -DMODE=usage
        -P ${CMAKE_CURRENT_LIST_FILE})
  endif()
  return()
endif()

if(MODE STREQUAL "usage")
  foreach(args "--peer;x;e2e" "--peer;a=h:0;e2e" "--peer;a=h:1,pid=0;e2e" "--peer;a=h:1,bogus=1;e2e"
      "--peer;xsr-router=h:1;e2e" "--peer;a=h:1;parser" "--router-threads;0;e2e"
      "--load-threads;2;parser" "--quick;--peer;a=h:1;--once;xsr;--corpus;chat")
    execute_process(COMMAND ${BENCH} ${args} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
    if(NOT rc EQUAL 2 OR err STREQUAL "")
      message(FATAL_ERROR "xsr-bench ${args}: exit ${rc}, want 2 and a message\n${err}")
    endif()
  endforeach()
  return()
endif()
file(REMOVE ${OUT}.json ${OUT}.svg)
execute_process(COMMAND ${BENCH} --quick --json ${OUT}.json --plot ${OUT}.svg e2e
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "xsr-bench --quick e2e exited ${rc}\n${out}\n${err}")
endif()
foreach(want "e2e: xsr-router" "K=2 W=1" "K=50 W=64" "K=2 ping" "K=50 open 50%" "K=200 idle"
    "msg/s" "p99 ms" "KiB/conn")
  string(FIND "${out}" "${want}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the table lacks '${want}':\n${out}\n${err}")
  endif()
endforeach()
file(READ ${OUT}.svg svg)
foreach(want "<svg" "delivered messages/s" "latency, ms" "</svg>")
  string(FIND "${svg}" "${want}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${OUT}.svg lacks '${want}'")
  endif()
endforeach()
if(CMAKE_VERSION VERSION_LESS 3.19) # no string(JSON) before 3.19
  return()
endif()
# Every closed-loop run delivered messages, lost none and misrouted none.
file(READ ${OUT}.json json)
string(JSON n LENGTH "${json}" results)
math(EXPR last "${n} - 1")
set(rates 0)
foreach(i RANGE 0 ${last})
  string(JSON suite GET "${json}" results ${i} suite)
  string(JSON scenario GET "${json}" results ${i} scenario)
  string(JSON metric GET "${json}" results ${i} metric)
  string(JSON value GET "${json}" results ${i} value)
  if(NOT suite STREQUAL "e2e")
    continue()
  endif()
  if(metric STREQUAL "msg/s")
    if(value LESS_EQUAL 0)
      message(FATAL_ERROR "${scenario}: ${value} msg/s")
    endif()
    math(EXPR rates "${rates} + 1")
  elseif((metric STREQUAL "lost" OR metric STREQUAL "misrouted") AND NOT value EQUAL 0)
    message(FATAL_ERROR "${scenario}: ${metric} ${value}")
  endif()
endforeach()
if(NOT rates EQUAL 5) # four closed-loop runs and one open-loop run
  message(FATAL_ERROR "${OUT}.json holds ${rates} msg/s figures, expected 5")
endif()
