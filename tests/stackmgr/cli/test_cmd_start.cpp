// `stackmgr start`, the real binary, up to the point where it would load modules or start a
// daemon: what it refuses first. The supervisor itself runs in the pluto and qemu suites.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/stackmgr/cli/fixture_root.hpp"
#include "tests/stackmgr/cli/run_binary.hpp"
#include "tests/stackmgr/cli/temp_config.hpp"

namespace stackmgr::cli {
namespace {

using ::testing::HasSubstr;

const std::string kBinary = STACKMGR_BINARY;

TEST(CmdStart, InManageModeAnotherRootIsRefusedBeforeAnythingIsTouched) {
  if (::geteuid() != 0) GTEST_SKIP() << "start needs root";
  testroot::FixtureRoot root;
  const auto ran = testrun::run(kBinary, {"--root", root.path().string(), "start"});
  EXPECT_EQ(ran.exit_code, 2) << ran.out << ran.err;
  EXPECT_THAT(ran.err, HasSubstr("refusing to start in manage mode with --root " + root.path().string()));
  EXPECT_FALSE(std::filesystem::exists(root.path() / "run/stackmgr")) << "no run_dir, lock or pid file";
}

TEST(CmdStart, ARunDirThatStackmgrDidNotMakeIsRefusedWithExitSevenAndNeverChmoded) {
  if (::geteuid() != 0) GTEST_SKIP() << "start needs root";
  testconfig::TempConfig config(
      "[modules]\nmode = \"external\"\n[daemon]\nargv.native = []\nargv.klips = []\n");
  std::filesystem::create_directory(config.run_dir());  // like /run: 0755, other programs' files in it
  ::chmod(config.run_dir().c_str(), 0755);
  const auto ran = testrun::run(kBinary, {"--config", config.file().string(), "start"});
  EXPECT_EQ(ran.exit_code, 7) << ran.out << ran.err;
  EXPECT_THAT(ran.err, HasSubstr("refusing to use " + config.run_dir().string() +
                                 " as stackmgr's own directory (paths.run_dir): it exists with mode 0755"));
  struct stat info {};
  ASSERT_EQ(::stat(config.run_dir().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0755U) << "never chmod'ed";
  EXPECT_FALSE(std::filesystem::exists(config.run_dir() / "stackmgr.pid"));
}

TEST(CmdStart, ARunDirWhoseParentCannotBeMadeIsExitFifteenWithThePathAndTheErrno) {
  if (::geteuid() != 0) GTEST_SKIP() << "start needs root";
  testconfig::TempConfig config;
  std::ofstream(config.dir() / "blocker") << "a file where run_dir's parent should be";
  const std::filesystem::path below = config.dir() / "blocker/stackmgr";
  std::ofstream(config.file())
      << "[paths]\nrun_dir = \"" << below.string() << "\"\nstate_dir = \"" << config.state_dir().string()
      << "\"\n[modules]\nmode = \"external\"\n[daemon]\nargv.native = []\nargv.klips = []\n";
  const auto ran = testrun::run(kBinary, {"--config", config.file().string(), "start"});
  EXPECT_EQ(ran.exit_code, 15) << ran.out << ran.err;
  EXPECT_THAT(ran.err, HasSubstr(below.string()));
  EXPECT_THAT(ran.err, HasSubstr("Not a directory (ENOTDIR: the host's file system refused it"));
}

}  // namespace
}  // namespace stackmgr::cli
