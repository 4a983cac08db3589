# SPDX-License-Identifier: MIT
# The stanza writer's tests.  The round-trip test parses the writer's output
# with expat, so expat is a test dependency.
pkg_check_modules(XSR_TEST_EXPAT REQUIRED IMPORTED_TARGET expat)
xsr_add_test(test_writer ${CMAKE_CURRENT_SOURCE_DIR}/test_writer.c LIBS PkgConfig::XSR_TEST_EXPAT)
