add_library(kp_warnings INTERFACE)
target_compile_options(kp_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wunused -Woverloaded-virtual -Wnull-dereference -Wimplicit-fallthrough)
if(KP_WERROR)
  target_compile_options(kp_warnings INTERFACE -Werror)
endif()
