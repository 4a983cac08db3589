# SPDX-License-Identifier: MIT
# xsr-bench end to end: the quick run must succeed (every parser accepts every
# corpus and reports the generator's stanza count) and write its JSON and plot;
# misuse must exit 2.
if(TARGET xsr-bench)
  add_test(NAME bench_quick
    COMMAND ${CMAKE_COMMAND}
      -DBENCH=$<TARGET_FILE:xsr-bench>
      -DOUT=${CMAKE_CURRENT_BINARY_DIR}/bench-quick
      -P ${CMAKE_CURRENT_SOURCE_DIR}/bench_quick.cmake)
  set_tests_properties(bench_quick PROPERTIES TIMEOUT 120)
  add_test(NAME bench_usage
    COMMAND sh -c "\"$0\" --no-such-option >/dev/null 2>&1; test $? -eq 2 && \"$0\" no-such-suite >/dev/null 2>&1; test $? -eq 2 && \"$0\" --help | grep -q '^usage: xsr-bench'"
      $<TARGET_FILE:xsr-bench>)
  # Options the chosen mode would ignore are usage errors, and so is a bad
  # corpus for --once; an unwritable --json fails before measuring.
  add_test(NAME bench_usage_modes
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tools/test-xsr-bench-usage.sh $<TARGET_FILE:xsr-bench>)
  if(TARGET xsr-expat-count)
    add_test(NAME expat_count_usage
      COMMAND sh -c "\"$0\" --bogus >/dev/null 2>&1; test $? -eq 2 && \"$0\" --chunk >/dev/null 2>&1; test $? -eq 2 && \"$0\" --chunk 0 x >/dev/null 2>&1; test $? -eq 2"
        $<TARGET_FILE:xsr-expat-count>)
  endif()
endif()
# xsr-bench --quick e2e (xsr-router and xsr-load through the suite).
include(${CMAKE_CURRENT_LIST_DIR}/bench_e2e.cmake)
