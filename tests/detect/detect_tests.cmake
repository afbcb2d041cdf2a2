# stackmgr detect's tests (included from tests/detect/CMakeLists.txt): fixture roots under
# fixtures/<case> laid over fixtures/base, the fake kernel, and the real binary.
add_library(detect_test_support STATIC fixture_root.cpp run_process.cpp)
target_include_directories(detect_test_support PUBLIC ${PROJECT_SOURCE_DIR})
target_compile_definitions(detect_test_support PRIVATE
  STACKMGR_DETECT_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")
target_link_libraries(detect_test_support PUBLIC detect)

foreach(name verdict detector cached_module_index proc_modules subsystem guard markers net_devices sysfs_modules module_state
             snapshot_json)
  add_executable(test_${name} test_${name}.cpp)
  target_link_libraries(test_${name} PRIVATE detect detect_test_support test_support GTest::gmock GTest::gtest_main)
  gtest_discover_tests(test_${name})
endforeach()

# The real binary, on this host and on fixture roots (needs depmod and the Debian kernel's index).
add_executable(test_detect_binary test_detect_binary.cpp)
target_compile_definitions(test_detect_binary PRIVATE STACKMGR_BINARY="$<TARGET_FILE:stackmgr>")
target_link_libraries(test_detect_binary PRIVATE detect_test_support nlohmann_json::nlohmann_json GTest::gmock
                                                 GTest::gtest_main)
add_dependencies(test_detect_binary stackmgr)
gtest_discover_tests(test_detect_binary)

