# SPDX-License-Identifier: MIT
# xsr-parse command-line contract: JSON shape against golden files, exit
# codes, and byte-identical output for every chunk size (tests/tools/ and the
# conformance inputs in tests/cases/).
if(TARGET xsr-parse)
  add_test(NAME xsr-parse-cli
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tools/test-xsr-parse.sh
            $<TARGET_FILE:xsr-parse> ${CMAKE_CURRENT_SOURCE_DIR}/tools ${CMAKE_CURRENT_SOURCE_DIR}/cases)
  if(XSR_SANITIZE)
    # Under sanitizers a process start costs ~0.1 s and this test starts
    # thousands: the conformance inputs run at two chunk sizes only there.
    set_tests_properties(xsr-parse-cli PROPERTIES ENVIRONMENT "XSR_CLI_CASE_CHUNKS=1 1460")
  endif()
endif()
