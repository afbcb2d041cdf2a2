// HostRoot: which tree is the host's own root.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "detect/host.hpp"

namespace {

TEST(HostRoot, TheRealRootIsKnownByDeviceAndInodeNotBySpelling) {
  EXPECT_TRUE(detect::HostRoot("/").is_real_root());
  EXPECT_TRUE(detect::HostRoot("/.").is_real_root());
  EXPECT_TRUE(detect::HostRoot("//").is_real_root());
  EXPECT_TRUE(detect::HostRoot("/usr/..").is_real_root());
  EXPECT_TRUE(detect::HostRoot().is_real_root());
}

TEST(HostRoot, AnotherTreeOrNothingIsNotTheRealRoot) {
  std::string pattern = (std::filesystem::temp_directory_path() / "stackmgr-host-XXXXXX").string();
  ASSERT_NE(mkdtemp(pattern.data()), nullptr);
  const std::filesystem::path tree = pattern;
  EXPECT_FALSE(detect::HostRoot(tree).is_real_root());
  EXPECT_FALSE(detect::HostRoot(tree / "missing").is_real_root());
  std::filesystem::create_directory_symlink("/", tree / "to-root");
  EXPECT_TRUE(detect::HostRoot(tree / "to-root").is_real_root()) << "a symlink to / leads to the real root";
  std::filesystem::remove_all(tree);
}

}  // namespace
