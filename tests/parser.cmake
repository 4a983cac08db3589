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
