# SPDX-License-Identifier: MIT
# Parser tests (issue 2): conformance cases, stanza views and decoding,
# allocation behaviour, error table, and the differential test against expat.
pkg_check_modules(EXPAT REQUIRED IMPORTED_TARGET expat)

add_library(xsr_test_support STATIC
  ${CMAKE_CURRENT_SOURCE_DIR}/support/canon.c
  ${CMAKE_CURRENT_SOURCE_DIR}/support/cases.c
  ${CMAKE_CURRENT_SOURCE_DIR}/support/countalloc.c)
target_include_directories(xsr_test_support PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/support)
target_link_libraries(xsr_test_support PUBLIC xsr::xsr)
xsr_target_warnings(xsr_test_support)

foreach(t test_parser test_stanza test_alloc test_error)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
    xsr_add_test(${t} ${t}.c LIBS xsr_test_support)
  endif()
endforeach()
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_diff_expat.c)
  xsr_add_test(test_diff_expat test_diff_expat.c LIBS xsr_test_support PkgConfig::EXPAT)
endif()
# The scanners against their references (test_scan: xsr__scan_text;
# test_scan3: xsr__scan3 and xsr__scan_content); the second run of each
# checks the scalar dispatch that XSR_FORCE_SCALAR=1 selects.
foreach(t test_scan test_scan3)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${t}.c)
    xsr_add_test(${t} ${t}.c)
    target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/parser)
    add_test(NAME ${t}_forced_scalar COMMAND ${t} --jobs=2)
    set_tests_properties(${t}_forced_scalar PROPERTIES ENVIRONMENT "XSR_FORCE_SCALAR=1")
  endif()
endforeach()
# The start-tag classifier: SIMD against its scalar definition.
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_tagmask.c)
  xsr_add_test(test_tagmask test_tagmask.c)
  target_include_directories(test_tagmask PRIVATE ${PROJECT_SOURCE_DIR}/parser)
endif()
# The conformance cases and the expat differential once more with the
# scalar paths (XSR_FORCE_SCALAR=1): no SIMD scanner, no start-tag bitmaps.
foreach(t test_parser test_diff_expat)
  if(TARGET ${t})
    add_test(NAME ${t}_scalar COMMAND ${t} --jobs=2)
    set_tests_properties(${t}_scalar PROPERTIES ENVIRONMENT
      "XSR_FORCE_SCALAR=1;XSR_TEST_CASES=${PROJECT_SOURCE_DIR}/tests/cases;XSR_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  endif()
endforeach()
