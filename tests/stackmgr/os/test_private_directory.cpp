// stackmgr's own directory (run_dir): made 0700 when missing; refused, never chmod'ed, when it
// exists but stackmgr would not have made it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "stackmgr/os/private_directory.hpp"

namespace stackmgr::os {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class PrivateDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "stackmgr-private-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }
  static mode_t mode_of(const fs::path& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0 ? info.st_mode & 07777 : 0;
  }
  fs::path dir_;
};

TEST_F(PrivateDirectory, AMissingOneIsMadeWithItsParents) {
  const fs::path run = dir_ / "run/stackmgr";
  const mode_t old_mask = ::umask(0);  // the mode must not depend on the umask
  ASSERT_TRUE(prepare_private_directory(run, "paths.run_dir"));
  ::umask(old_mask);
  EXPECT_EQ(mode_of(run), 0700U);
  EXPECT_EQ(mode_of(dir_ / "run"), 0755U);
  EXPECT_TRUE(prepare_private_directory(run, "paths.run_dir")) << "what it made is its own";
}

TEST_F(PrivateDirectory, ASharedOneIsRefusedWithTheKeyToChangeAndLeftAsItWas) {
  const fs::path shared = dir_ / "run";  // like /run: 0755, holding other programs' files
  fs::create_directory(shared);
  ::chmod(shared.c_str(), 0755);
  const auto refused = prepare_private_directory(shared, "paths.run_dir");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, 0) << "a refusal (exit 7), not an OS error";
  EXPECT_EQ(
      refused.error().describe(),
      "refusing to use " + shared.string() +
          " as stackmgr's own directory (paths.run_dir): it exists with mode 0755, and stackmgr uses only "
          "a directory it made itself (owned by uid " +
          std::to_string(::geteuid()) +
          ", mode 0700): it may be shared with other programs, which a chmod would lock out. Set "
          "paths.run_dir to a directory of its own, such as /run/stackmgr");
  EXPECT_EQ(mode_of(shared), 0755U) << "never chmod'ed";

  ::chmod(shared.c_str(), 01777);  // like /tmp
  EXPECT_THAT(prepare_private_directory(shared, "paths.run_dir").error().message,
              HasSubstr("with mode 1777"));
  EXPECT_EQ(mode_of(shared), 01777U);
}

TEST_F(PrivateDirectory, ASymlinkAFileOrSomeoneElsesDirectoryIsRefused) {
  fs::create_directory(dir_ / "real");
  ::chmod((dir_ / "real").c_str(), 0700);
  fs::create_directory_symlink(dir_ / "real", dir_ / "link");
  EXPECT_THAT(prepare_private_directory(dir_ / "link", "paths.run_dir").error().message,
              HasSubstr("it is a symlink"));
  std::ofstream(dir_ / "file") << "";
  EXPECT_THAT(prepare_private_directory(dir_ / "file", "paths.run_dir").error().message,
              HasSubstr("it exists and is not a directory"));
  if (::geteuid() == 0) {
    fs::create_directory(dir_ / "nobodys");
    ::chmod((dir_ / "nobodys").c_str(), 0700);
    ASSERT_EQ(::chown((dir_ / "nobodys").c_str(), 65534, 65534), 0);
    EXPECT_THAT(prepare_private_directory(dir_ / "nobodys", "paths.run_dir").error().message,
                HasSubstr("it exists and is owned by uid 65534"));
  }
}

TEST_F(PrivateDirectory, AParentThatCannotBeMadeCarriesItsErrnoAndPath) {
  std::ofstream(dir_ / "file") << "";
  const auto failed = prepare_private_directory(dir_ / "file/run/stackmgr", "paths.run_dir");
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, ENOTDIR);
  EXPECT_THAT(failed.error().describe(), HasSubstr((dir_ / "file/run/stackmgr").string()));
}

}  // namespace
}  // namespace stackmgr::os
