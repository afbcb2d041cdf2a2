// The autoload guard file: what it blocks, how it is written, and that detection reads it back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "detect/guard.hpp"
#include "modules/guard_file.hpp"
#include "tests/modules/temp_dir.hpp"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testworld::TempDir;

std::vector<std::string> entries(const std::filesystem::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename());
  return names;
}

TEST(GuardFile, SetWritesOneInstallLinePerNativeModuleThatDetectionReadsBack) {
  TempDir root;
  auto guard = modules::GuardFile::for_catalog(detect::HostRoot(root.path()), detect::Catalog::defaults());
  EXPECT_FALSE(guard.is_set());
  ASSERT_TRUE(guard.set().ok());
  EXPECT_TRUE(guard.is_set());
  const detect::HostRoot host(root.path());
  const std::set<std::string> guarded = detect::read_guarded_modules(host);
  EXPECT_EQ(guarded, (std::set<std::string>{"af_key", "esp4", "ah4", "xfrm_user", "xfrm4_tunnel", "esp6",
                                            "ah6", "xfrm6_tunnel", "ipcomp", "ipcomp6"}));
  const auto text = host.read(detect::kGuardFile);
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr("# Written by stackmgr"));
  EXPECT_THAT(*text, HasSubstr("install af_key /bin/false\n"));
  EXPECT_THAT(*text, ::testing::Not(HasSubstr("ipsec")));
}

TEST(GuardFile, IsWorldReadableAndLeavesNoTemporaryFiles) {
  TempDir root;
  modules::GuardFile guard(detect::HostRoot(root.path()), {"af_key"});
  ASSERT_TRUE(guard.set().ok());
  ASSERT_TRUE(guard.set().ok());  // idempotent
  struct stat info {};
  ASSERT_EQ(::stat(guard.path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0644U);
  EXPECT_THAT(entries(root.path() / "run/modprobe.d"), ElementsAre("stackmgr-guard.conf"));
}

TEST(GuardFile, ClearRemovesItAndIsIdempotent) {
  TempDir root;
  modules::GuardFile guard(detect::HostRoot(root.path()), {"af_key"});
  ASSERT_TRUE(guard.set().ok());
  ASSERT_TRUE(guard.clear().ok());
  EXPECT_FALSE(guard.is_set());
  EXPECT_TRUE(guard.clear().ok());
  EXPECT_THAT(entries(root.path() / "run/modprobe.d"), IsEmpty());
}

TEST(GuardFile, RefusesASymlinkedDirectory) {
  TempDir root;
  TempDir elsewhere;
  std::filesystem::create_directories(root.path() / "run");
  std::filesystem::create_directory_symlink(elsewhere.path(), root.path() / "run/modprobe.d");
  modules::GuardFile guard(detect::HostRoot(root.path()), {"af_key"});
  const detect::Status status = guard.set();
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().describe(), HasSubstr("is a symlink"));
  EXPECT_THAT(entries(elsewhere.path()), IsEmpty());
}

TEST(GuardFile, LeavesOutInvalidNames) {
  TempDir root;
  modules::GuardFile guard(detect::HostRoot(root.path()), {"af_key", "bad name\ninstall x"});
  EXPECT_THAT(guard.content(), ::testing::Not(HasSubstr("bad name")));
}

}  // namespace
