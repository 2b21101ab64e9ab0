# kp_module(NAME <name> SOURCES ... DEPS ...)
#   Declares static library kp_<name> from src/<name>, public include root src/.
# kp_unit_test(NAME <name> SOURCES ... DEPS ...)
#   A GoogleTest executable registered with ctest, label "unit".
function(kp_module)
  cmake_parse_arguments(A "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_library(kp_${A_NAME} STATIC ${A_SOURCES})
  target_include_directories(kp_${A_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(kp_${A_NAME} PUBLIC ${A_DEPS} PRIVATE kp_warnings)
  target_compile_features(kp_${A_NAME} PUBLIC cxx_std_20)
endfunction()

function(kp_unit_test)
  if(NOT KP_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(A "" "NAME;TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  if(NOT A_LABELS)
    set(A_LABELS unit)
  endif()
  add_executable(${A_NAME} ${A_SOURCES})
  target_link_libraries(${A_NAME} PRIVATE ${A_DEPS} GTest::gtest GTest::gmock GTest::gtest_main kp_warnings)
  target_compile_definitions(${A_NAME} PRIVATE
    KP_VECTORS_DIR="${KP_VECTORS_DIR}" KP_REFERENCE_DIR="${KP_REFERENCE_DIR}"
    KP_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  set_target_properties(${A_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  gtest_discover_tests(${A_NAME} DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${A_LABELS}" TIMEOUT ${A_TIMEOUT})
endfunction()
