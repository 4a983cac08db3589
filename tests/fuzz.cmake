# SPDX-License-Identifier: MIT
# Replays every committed fuzz input under ctest: the seed corpora
# (fuzz/corpus/<name>) and the regression inputs of bugs the fuzzers found
# (fuzz/regressions/<name>).  In a normal build (XSR_BUILD_FUZZ off) the
# harnesses are built here as plain replay binaries with the project's
# compiler and flags (gcc in CI, sanitizers when XSR_SANITIZE is set), so
# every invariant the harnesses check runs on every CI build without clang.
include(${PROJECT_SOURCE_DIR}/fuzz/fuzzers.cmake)

xsr_fuzz_harnesses(_xsr_fuzz_names)
foreach(_name ${_xsr_fuzz_names})
  set(_engine replay)
  if(XSR_BUILD_FUZZ)
    set(_engine ${XSR_FUZZ_ENGINE})
  endif()
  if(NOT TARGET ${_name}_fuzzer)
    xsr_fuzz_add(${_name} replay)
    set(_engine replay)
  endif()
  set(_dirs)
  foreach(_kind corpus regressions)
    if(IS_DIRECTORY ${PROJECT_SOURCE_DIR}/fuzz/${_kind}/${_name})
      list(APPEND _dirs ${PROJECT_SOURCE_DIR}/fuzz/${_kind}/${_name})
    endif()
  endforeach()
  if(NOT _dirs)
    continue()
  endif()
  if(_engine STREQUAL "replay")
    add_test(NAME fuzz-replay-${_name} COMMAND ${_name}_fuzzer ${_dirs})
  elseif(_engine STREQUAL "libfuzzer")
    add_test(NAME fuzz-replay-${_name} COMMAND ${_name}_fuzzer -runs=0 ${_dirs})
  endif()
  # AFL++ and external engines have no replay mode ctest can drive.
endforeach()
