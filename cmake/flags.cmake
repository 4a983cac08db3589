# SPDX-License-Identifier: MIT
# Warning and sanitizer flags shared by every target of the project.

function(xsr_target_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wformat=2>
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra>)
  if(XSR_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

if(XSR_SANITIZE)
  string(REPLACE "," ";" _xsr_san_list "${XSR_SANITIZE}")
  add_compile_options(-fsanitize=${XSR_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${XSR_SANITIZE})
  add_compile_definitions(XSR_SANITIZED=1)
endif()
