# modules/kmod_backend.cpp's tests (included from tests/modules/CMakeLists.txt). They read the
# Debian kernel's real module index and use the detect tests' process helpers.
add_executable(test_kmod_backend test_kmod_backend.cpp)
target_link_libraries(test_kmod_backend PRIVATE modules detect_test_support GTest::gmock GTest::gtest_main)
gtest_discover_tests(test_kmod_backend)
