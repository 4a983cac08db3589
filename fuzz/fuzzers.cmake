# SPDX-License-Identifier: MIT
# The fuzz harnesses, shared by fuzz/CMakeLists.txt (XSR_BUILD_FUZZ=ON, any
# engine) and tests/fuzz.cmake (replay binaries for ctest in a normal build).
#
# xsr_fuzz_harnesses(<out-var>): the harness names available in this build.
# xsr_fuzz_add(<name> <engine>): the executable <name>_fuzzer for an engine:
#   replay     fuzz/replay.c supplies main(); any C compiler (gcc in CI)
#   libfuzzer  clang, -fsanitize=fuzzer,address,undefined
#   afl        afl-clang-fast/afl-clang-lto as the C compiler; AFL++'s
#              libFuzzer-compatible driver
#   external   link flags from XSR_FUZZ_LDFLAGS, e.g. OSS-Fuzz's
#              $LIB_FUZZING_ENGINE (compile flags come from CFLAGS)

set(XSR_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(XSR_FUZZ_SANITIZE "address,undefined" CACHE STRING
  "Sanitizers for the libfuzzer engine (comma-separated, may be empty)")
set(XSR_FUZZ_LDFLAGS "" CACHE STRING "Link flags for the external engine (OSS-Fuzz: $LIB_FUZZING_ENGINE)")

function(xsr_fuzz_harnesses out)
  set(names parser_feed parser_buffer restart decode writer)
  if(TARGET xsr_objects AND EXISTS ${PROJECT_SOURCE_DIR}/router/jid.c AND XSR_BUILD_ROUTER
     AND EXISTS ${PROJECT_SOURCE_DIR}/router/CMakeLists.txt)
    list(APPEND names jid)
  endif()
  if(NOT DEFINED XSR_FUZZ_HAVE_EXPAT)
    pkg_check_modules(XSR_FUZZ_EXPAT QUIET IMPORTED_TARGET GLOBAL expat)
    set(XSR_FUZZ_HAVE_EXPAT ${XSR_FUZZ_EXPAT_FOUND} CACHE INTERNAL "")
  endif()
  if(XSR_FUZZ_HAVE_EXPAT)
    if(NOT TARGET PkgConfig::XSR_FUZZ_EXPAT)
      pkg_check_modules(XSR_FUZZ_EXPAT QUIET IMPORTED_TARGET GLOBAL expat)
    endif()
    list(APPEND names expat_diff)
    if(TARGET xsr_objects AND XSR_BUILD_ROUTER AND EXISTS ${PROJECT_SOURCE_DIR}/router/CMakeLists.txt)
      list(APPEND names forward)
    endif()
  endif()
  # The c2s state machine of xsr-router (server/c2s.h), with the server core.
  if(TARGET xsr_server_core AND EXISTS ${XSR_FUZZ_DIR}/c2s_fuzzer.c)
    list(APPEND names c2s)
  endif()
  set(${out} ${names} PARENT_SCOPE)
endfunction()

function(xsr_fuzz_add name engine)
  set(t ${name}_fuzzer)
  add_executable(${t} ${XSR_FUZZ_DIR}/${name}_fuzzer.c ${XSR_FUZZ_DIR}/support.c)
  target_include_directories(${t} PRIVATE ${XSR_FUZZ_DIR})
  target_link_libraries(${t} PRIVATE xsr::xsr)
  if(name STREQUAL "expat_diff")
    target_link_libraries(${t} PRIVATE PkgConfig::XSR_FUZZ_EXPAT)
  elseif(name STREQUAL "forward")
    # The forwarding checks are shared with tests/test_forward.c.
    target_sources(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support/fwdcheck.c)
    target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
    target_link_libraries(${t} PRIVATE PkgConfig::XSR_FUZZ_EXPAT)
  elseif(name STREQUAL "c2s")
    target_link_libraries(${t} PRIVATE xsr_server_core)
  endif()
  xsr_target_warnings(${t})
  if(engine STREQUAL "replay")
    target_sources(${t} PRIVATE ${XSR_FUZZ_DIR}/replay.c)
  elseif(engine STREQUAL "libfuzzer")
    if(XSR_FUZZ_SANITIZE)
      set(san ",${XSR_FUZZ_SANITIZE}")
    else()
      set(san "")
    endif()
    target_compile_options(${t} PRIVATE -fsanitize=fuzzer${san} -fno-sanitize-recover=all
                                        -fno-omit-frame-pointer)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer${san})
  elseif(engine STREQUAL "afl")
    target_link_options(${t} PRIVATE -fsanitize=fuzzer)
  elseif(engine STREQUAL "external")
    # The link runs through the C++ driver (engine archives are often C++),
    # which sees CXXFLAGS only: pass CFLAGS too so the sanitizers link.
    separate_arguments(ldflags UNIX_COMMAND "${CMAKE_C_FLAGS} ${XSR_FUZZ_LDFLAGS}")
    target_link_options(${t} PRIVATE ${ldflags})
    # libFuzzer-style engines are often C++ archives.
    set_target_properties(${t} PROPERTIES LINKER_LANGUAGE CXX)
  else()
    message(FATAL_ERROR "XSR_FUZZ_ENGINE must be replay, libfuzzer, afl or external, not '${engine}'")
  endif()
endfunction()
