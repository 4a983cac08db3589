# SPDX-License-Identifier: MIT
# xsr-load (tools/load/, docs/load.md): the histogram's unit test, and the
# tool end to end against the real xsr-router (tests/load/test_load_e2e.c:
# a plain program, so it also runs under TSan, label "tsan"; shorter runs
# and a longer timeout under sanitizers through XSR_LOAD_E2E_SCALE).
if(TARGET xsr_load_hist)
  xsr_add_test(test_load_hist ${CMAKE_CURRENT_SOURCE_DIR}/load/test_load_hist.c
    LIBS xsr_load_hist)
endif()
if(TARGET xsr-load AND TARGET xsr-router)
  pkg_check_modules(XSR_LOAD_YAJL REQUIRED IMPORTED_TARGET yajl)
  add_executable(test_load_e2e ${CMAKE_CURRENT_SOURCE_DIR}/load/test_load_e2e.c
    ${CMAKE_CURRENT_SOURCE_DIR}/server/daemon.c)
  target_include_directories(test_load_e2e PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/server)
  target_link_libraries(test_load_e2e PRIVATE PkgConfig::XSR_LOAD_YAJL)
  xsr_target_warnings(test_load_e2e)
  add_test(NAME test_load_e2e COMMAND test_load_e2e $<TARGET_FILE:xsr-load>
    $<TARGET_FILE:xsr-router> ${PROJECT_SOURCE_DIR}/tools/load/make-users.sh)
  set(_xsr_load_env
    "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=${CMAKE_CURRENT_SOURCE_DIR}/tsan-urcu.supp")
  set(_xsr_load_timeout 120)
  if(XSR_SANITIZE)
    set(_xsr_load_timeout 300)
  endif()
  set_tests_properties(test_load_e2e PROPERTIES LABELS "tsan" TIMEOUT ${_xsr_load_timeout}
    ENVIRONMENT "${_xsr_load_env}")
endif()
