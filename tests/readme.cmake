# SPDX-License-Identifier: MIT
# The README's example program compiles against the library and prints what
# the README says it prints: the quick start stays true.
set(_readme_cflags "${CMAKE_C_FLAGS}")
if(XSR_SANITIZE)
  string(APPEND _readme_cflags " -fsanitize=${XSR_SANITIZE}")
endif()
add_test(NAME readme-example
  COMMAND ${CMAKE_COMMAND}
          -DREADME=${PROJECT_SOURCE_DIR}/README.md
          -DOUT=${CMAKE_CURRENT_BINARY_DIR}/readme-example
          -DCC=${CMAKE_C_COMPILER}
          -DINCLUDE=${PROJECT_SOURCE_DIR}/include
          -DLIB=$<TARGET_FILE:xsr>
          "-DLIBS=${XSR_PC_REQUIRES}"
          "-DCFLAGS=${_readme_cflags}"
          -P ${CMAKE_CURRENT_SOURCE_DIR}/readme-example.cmake)
