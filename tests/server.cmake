# SPDX-License-Identifier: MIT
# Server building blocks: the users file and SASL (server/users.h,
# server/sasl.h), against libgsasl's client side for real SCRAM exchanges.
if(TARGET xsr_server_core)
  xsr_add_test(test_server_users ${CMAKE_CURRENT_SOURCE_DIR}/test_server_users.c
    LIBS xsr_server_core)
  xsr_add_test(test_server_sasl ${CMAKE_CURRENT_SOURCE_DIR}/test_server_sasl.c
    LIBS xsr_server_core)
endif()
# The c2s state machine and the server's own answers (server/c2s.h,
# server/local.c), driven without a network; SCRAM through libgsasl's client.
if(TARGET xsr_server_core AND EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_server_c2s.c)
  xsr_add_test(test_server_c2s ${CMAKE_CURRENT_SOURCE_DIR}/test_server_c2s.c
    LIBS xsr_server_core)
  set_tests_properties(test_server_c2s PROPERTIES TIMEOUT 120)
endif()
# xsr-router's configuration (server/config.h): the JSON keys, the command
# line and its precedence.
if(TARGET xsr_server_config)
  xsr_add_test(test_server_config ${CMAKE_CURRENT_SOURCE_DIR}/test_server_config.c
    LIBS xsr_server_config)
endif()
# The real xsr-router binary end to end on 127.0.0.1 port 0 (--port-file):
# raw sockets whose every received byte goes through xsr's parser
# (tests/server/), and libstrophe as a real client (tests/interop/).  Plain
# programs, not Criterion, so that they run under TSan too (label "tsan":
# the daemon with 2 worker threads; the suppressions reach it through the
# environment).  Each daemon is stopped by PID and must exit 0, which under
# ASan also means no leak.
if(TARGET xsr-router)
  set(_xsr_e2e_env
    "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=${CMAKE_CURRENT_SOURCE_DIR}/tsan-urcu.supp")
  if(XSR_SANITIZE)
    list(APPEND _xsr_e2e_env "XSR_E2E_CLIENTS=300")
  endif()
  add_executable(test_router_e2e ${CMAKE_CURRENT_SOURCE_DIR}/server/test_router_e2e.c
    ${CMAKE_CURRENT_SOURCE_DIR}/server/client.c ${CMAKE_CURRENT_SOURCE_DIR}/server/daemon.c)
  target_link_libraries(test_router_e2e PRIVATE xsr::xsr)
  xsr_target_warnings(test_router_e2e)
  add_test(NAME test_router_e2e COMMAND test_router_e2e $<TARGET_FILE:xsr-router>)
  set_tests_properties(test_router_e2e PROPERTIES LABELS "tsan" TIMEOUT 300
    ENVIRONMENT "${_xsr_e2e_env}")
  pkg_check_modules(XSR_STROPHE IMPORTED_TARGET libstrophe)
  if(XSR_STROPHE_FOUND)
    add_executable(test_strophe ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_strophe.c
      ${CMAKE_CURRENT_SOURCE_DIR}/server/daemon.c)
    target_include_directories(test_strophe PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/server)
    find_package(Threads REQUIRED)
    target_link_libraries(test_strophe PRIVATE PkgConfig::XSR_STROPHE Threads::Threads)
    xsr_target_warnings(test_strophe)
    add_test(NAME test_strophe COMMAND test_strophe $<TARGET_FILE:xsr-router>)
    set_tests_properties(test_strophe PROPERTIES LABELS "tsan" TIMEOUT 120
      ENVIRONMENT "${_xsr_e2e_env}")
  else()
    message(STATUS "libstrophe not found: the libstrophe interop test is not built")
  endif()
  # slixmpp (python3-slixmpp) as a second real client: registered only when
  # a python3 that can import it is found now (the first of find_package's
  # interpreter and /usr/bin/python3, where Debian's package lives, that
  # can).  The script starts and stops the daemon itself.
  find_package(Python3 COMPONENTS Interpreter QUIET)
  set(_xsr_slix_python "")
  foreach(_py ${Python3_EXECUTABLE} /usr/bin/python3)
    if(NOT _xsr_slix_python AND EXISTS "${_py}")
      execute_process(COMMAND "${_py}" -c "import slixmpp" RESULT_VARIABLE _xsr_slix_rc
        OUTPUT_QUIET ERROR_QUIET)
      if(_xsr_slix_rc EQUAL 0)
        set(_xsr_slix_python "${_py}")
      endif()
    endif()
  endforeach()
  if(_xsr_slix_python)
    add_test(NAME test_slixmpp COMMAND "${_xsr_slix_python}"
      ${CMAKE_CURRENT_SOURCE_DIR}/interop/test_slixmpp.py $<TARGET_FILE:xsr-router>)
    set_tests_properties(test_slixmpp PROPERTIES LABELS "tsan" TIMEOUT 180
      ENVIRONMENT "${_xsr_e2e_env}")
  else()
    message(STATUS "python3 with slixmpp not found: the slixmpp interop test is not registered")
  endif()
endif()
