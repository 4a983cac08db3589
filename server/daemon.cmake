# SPDX-License-Identifier: MIT
# xsr-router, the daemon: config (yajl), the libuv network layer, main.
# Included by server/CMakeLists.txt; built into build/bin like the tools.
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv>=1.44)
find_package(Threads REQUIRED)

# The daemon's own code as a library too, so tests can link the config
# parser without the network layer.
add_library(xsr_server_config STATIC ${CMAKE_CURRENT_SOURCE_DIR}/config.c)
target_include_directories(xsr_server_config PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(xsr_server_config PUBLIC xsr_server_core PkgConfig::YAJL)
xsr_target_warnings(xsr_server_config)

add_executable(xsr-router
  ${CMAKE_CURRENT_SOURCE_DIR}/main.c
  ${CMAKE_CURRENT_SOURCE_DIR}/net.c)
target_link_libraries(xsr-router PRIVATE xsr_server_config xsr_server_core PkgConfig::LIBUV
  Threads::Threads)
xsr_target_warnings(xsr-router)
install(TARGETS xsr-router RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
