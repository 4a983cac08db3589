# SPDX-License-Identifier: MIT
# xsr-load, the libuv XMPP load generator (tools/load/, docs/load.md):
# libuv loops, xsr's parser on what the server sends, libgsasl's client side
# for SCRAM, yajl for --json.  Built into build/bin and installed.
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
pkg_check_modules(GSASL REQUIRED IMPORTED_TARGET libgsasl>=2.0)
find_package(Threads REQUIRED)

# The histogram alone, for its unit test.
add_library(xsr_load_hist STATIC ${CMAKE_CURRENT_SOURCE_DIR}/load/hist.c)
target_include_directories(xsr_load_hist PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/load)
xsr_target_warnings(xsr_load_hist)

add_executable(xsr-load
  ${CMAKE_CURRENT_SOURCE_DIR}/load/main.c
  ${CMAKE_CURRENT_SOURCE_DIR}/load/client.c
  ${CMAKE_CURRENT_SOURCE_DIR}/load/sched.c
  ${CMAKE_CURRENT_SOURCE_DIR}/load/report.c)
target_link_libraries(xsr-load PRIVATE xsr_load_hist xsr::xsr PkgConfig::LIBUV PkgConfig::GSASL
  PkgConfig::YAJL Threads::Threads m)
xsr_target_warnings(xsr-load)
install(TARGETS xsr-load RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(PROGRAMS ${CMAKE_CURRENT_SOURCE_DIR}/load/make-users.sh
  DESTINATION ${CMAKE_INSTALL_BINDIR} RENAME xsr-load-users)
