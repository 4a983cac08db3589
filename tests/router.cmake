# Router core tests: JIDs, delivery rules, session queues, and the
# multi-threaded stress test (also run under TSan: label "tsan").
xsr_add_test(test_jid ${CMAKE_CURRENT_SOURCE_DIR}/test_jid.c)

if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_router.c)
  xsr_add_test(test_router ${CMAKE_CURRENT_SOURCE_DIR}/test_router.c)
  set_tests_properties(test_router PROPERTIES LABELS "tsan")
endif()

if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_router_stress.c)
  # TSan cannot see liburcu's grace periods (uninstrumented library, inline
  # assembly atomics); tsan-urcu.supp explains each suppression.
  xsr_add_test(test_router_stress ${CMAKE_CURRENT_SOURCE_DIR}/test_router_stress.c
    ENV "TSAN_OPTIONS=suppressions=${CMAKE_CURRENT_SOURCE_DIR}/tsan-urcu.supp" XSR_STRESS_SECONDS=2)
  set_tests_properties(test_router_stress PROPERTIES LABELS "tsan" TIMEOUT 120)
endif()
