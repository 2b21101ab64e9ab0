add_library(kp_warnings INTERFACE)
target_compile_options(kp_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align
  -Wunused -Woverloaded-virtual -Wimplicit-fallthrough)
if(KP_WERROR)
  target_compile_options(kp_warnings INTERFACE -Werror)
endif()
# GCC 12 reports false -Wrestrict / -Wstringop-overflow positives inside
# libstdc++'s std::string at -O2 and -Wmaybe-uninitialized (GCC bugs 105329, 105651, 107138): keep them as
# warnings, not errors, so release builds with -Werror stay usable.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(kp_warnings INTERFACE -Wno-error=restrict -Wno-error=stringop-overflow
    -Wno-error=array-bounds -Wno-error=maybe-uninitialized
    # Asio's coroutine frames use a sized operator delete that GCC 12 at -O2
    # mistakes for a mismatched pair (GCC bug 103993).
    -Wno-mismatched-new-delete)
endif()
