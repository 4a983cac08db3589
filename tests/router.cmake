# SPDX-License-Identifier: MIT
# Router core tests: JIDs, delivery rules, session queues, and the
# multi-threaded stress test (also run under TSan: label "tsan").
xsr_add_test(test_jid ${CMAKE_CURRENT_SOURCE_DIR}/test_jid.c)

if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_router.c)
  xsr_add_test(test_router ${CMAKE_CURRENT_SOURCE_DIR}/test_router.c)
endif()

if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_router_stress.c)
  # A plain program, not Criterion: Criterion cannot start under TSan
  # (Criterion issue #274).  TSan cannot see liburcu's grace periods
  # (uninstrumented library, inline-assembly atomics); tsan-urcu.supp says
  # why each suppression is safe.
  find_package(Threads REQUIRED)
  add_executable(test_router_stress ${CMAKE_CURRENT_SOURCE_DIR}/test_router_stress.c)
  target_link_libraries(test_router_stress PRIVATE xsr::xsr Threads::Threads)
  xsr_target_warnings(test_router_stress)
  add_test(NAME test_router_stress COMMAND test_router_stress)
  set_tests_properties(test_router_stress PROPERTIES LABELS "tsan" TIMEOUT 120
    ENVIRONMENT "XSR_STRESS_SECONDS=2;TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=${CMAKE_CURRENT_SOURCE_DIR}/tsan-urcu.supp")
endif()

xsr_add_test(test_router_oom ${CMAKE_CURRENT_SOURCE_DIR}/test_router_oom.c)
set_tests_properties(test_router_oom PROPERTIES TIMEOUT 30)

# The parser and the router driven together as the daemon drives them:
# generated streams routed under tiny budgets with XSR_RETRY and on_room,
# every delivery read again by xsr and by expat (support/fwdcheck.c), and
# the forwarding cases of the router's FROM STAMPING and LIMITS sections.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_forward.c)
  pkg_check_modules(XSR_FWD_EXPAT REQUIRED IMPORTED_TARGET expat)
  xsr_add_test(test_forward ${CMAKE_CURRENT_SOURCE_DIR}/test_forward.c
    ${CMAKE_CURRENT_SOURCE_DIR}/support/fwdcheck.c LIBS PkgConfig::XSR_FWD_EXPAT)
  set_tests_properties(test_forward PROPERTIES TIMEOUT 120)
endif()

# The same with threads: senders' parsers on every thread routing to the
# other threads' sessions under small budgets, resumed through on_room.  A
# plain program (Criterion cannot start under TSan), labelled "tsan".
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_forward_stress.c)
  find_package(Threads REQUIRED)
  add_executable(test_forward_stress ${CMAKE_CURRENT_SOURCE_DIR}/test_forward_stress.c
    ${CMAKE_CURRENT_SOURCE_DIR}/support/fwdcheck.c)
  target_include_directories(test_forward_stress PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support)
  target_link_libraries(test_forward_stress PRIVATE xsr::xsr Threads::Threads
    PkgConfig::XSR_FWD_EXPAT)
  xsr_target_warnings(test_forward_stress)
  add_test(NAME test_forward_stress COMMAND test_forward_stress)
  set_tests_properties(test_forward_stress PROPERTIES LABELS "tsan" TIMEOUT 180
    ENVIRONMENT "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=${CMAKE_CURRENT_SOURCE_DIR}/tsan-urcu.supp")
endif()
