# Server building blocks: the users file and SASL (server/users.h,
# server/sasl.h), against libgsasl's client side for real SCRAM exchanges.
if(TARGET xsr_server_core)
  xsr_add_test(test_server_users ${CMAKE_CURRENT_SOURCE_DIR}/test_server_users.c
    LIBS xsr_server_core)
  xsr_add_test(test_server_sasl ${CMAKE_CURRENT_SOURCE_DIR}/test_server_sasl.c
    LIBS xsr_server_core)
endif()
