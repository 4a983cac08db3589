# xsr-parse command-line contract: JSON shape against golden files, exit
# codes, and byte-identical output for every chunk size (tests/tools/ and the
# conformance inputs in tests/cases/).
if(TARGET xsr-parse)
  add_test(NAME xsr-parse-cli
    COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tools/test-xsr-parse.sh
            $<TARGET_FILE:xsr-parse> ${CMAKE_CURRENT_SOURCE_DIR}/tools ${CMAKE_CURRENT_SOURCE_DIR}/cases)
endif()
