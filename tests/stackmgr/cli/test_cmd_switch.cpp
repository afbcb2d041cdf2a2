// `stackmgr switch`, the real binary: root only, usage, busy under the lock, refusals: another
// root, a run_dir it did not make.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "stackmgr/os/lock.hpp"
#include "tests/stackmgr/cli/fixture_root.hpp"
#include "tests/stackmgr/cli/run_binary.hpp"
#include "tests/stackmgr/cli/temp_config.hpp"

namespace stackmgr::cli {
namespace {

using ::testing::HasSubstr;

const std::string kBinary = STACKMGR_BINARY;

TEST(CmdSwitch, NeedsRoot) {
  if (auto why = testrun::cannot_exec_as(kBinary, 65534)) GTEST_SKIP() << *why;
  const auto ran = testrun::run(kBinary, {"switch", "native"}, 65534);
  EXPECT_EQ(ran.exit_code, 9);
  EXPECT_THAT(ran.err, HasSubstr("needs root"));
  EXPECT_THAT(ran.err, HasSubstr("stackmgr plan native"));
}

TEST(CmdSwitch, AnUnknownStackIsAUsageError) {
  const auto ran = testrun::run(kBinary, {"switch", "openswan"});
  EXPECT_EQ(ran.exit_code, 2);
  EXPECT_THAT(ran.err, HasSubstr("use klips, native, netkey or xfrm"));
}

TEST(CmdSwitch, IsBusyWhileAnotherStackmgrHoldsTheLock) {
  if (::geteuid() != 0) GTEST_SKIP() << "switch needs root; this test runs it as root";
  testconfig::TempConfig config;
  auto held = stackmgr::os::Lock::acquire(config.run_dir() / "lock", stackmgr::os::LockWait::no_wait,
                                          std::chrono::milliseconds(0));
  ASSERT_TRUE(held.ok()) << held.error().describe();
  // --yes: this host's own SAD/SPD may hold entries; the switch must not stop to ask.
  auto ran =
      testrun::run(kBinary, {"--config", config.file().string(), "switch", "native", "--no-wait", "--yes"});
  EXPECT_EQ(ran.exit_code, 6) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("busy: another stackmgr (pid " + std::to_string(::getpid()) + ")"));

  ran = testrun::run(kBinary, {"--config", config.file().string(), "switch", "native", "--timeout", "0.2",
                               "--json", "--yes"});
  EXPECT_EQ(ran.exit_code, 6);
  const auto json = nlohmann::json::parse(ran.out);
  EXPECT_EQ(json["outcome"], "busy");
  EXPECT_EQ(json["exit_code"], 6);
  EXPECT_THAT(json["failure"]["message"].get<std::string>(), HasSubstr("after waiting 200 ms"));
}

TEST(CmdSwitch, AnotherRootIsRefusedBeforeAnythingIsTouched) {
  if (::geteuid() != 0) GTEST_SKIP() << "switch needs root; this test runs it as root";
  testroot::FixtureRoot root;
  const auto ran = testrun::run(kBinary, {"--root", root.path().string(), "switch", "native", "--yes"});
  EXPECT_EQ(ran.exit_code, 2) << ran.out << ran.err;
  EXPECT_THAT(ran.err, HasSubstr("refusing to switch with --root " + root.path().string() +
                                 ": loading and unloading modules acts on the running kernel"));
  EXPECT_FALSE(std::filesystem::exists(root.path() / "run/stackmgr")) << "no lock, no record under the root";
  EXPECT_FALSE(std::filesystem::exists(root.path() / "var/lib/stackmgr")) << "no journal under the root";

  const auto planned =
      testrun::run(kBinary, {"--root", root.path().string(), "switch", "native", "--dry-run"});
  EXPECT_NE(planned.exit_code, 2) << "a dry run changes nothing and may read another root: " << planned.err;
}

TEST(CmdSwitch, TheRealRootSpelledOtherwiseIsTheRealRoot) {
  if (::geteuid() != 0) GTEST_SKIP() << "switch needs root; this test runs it as root";
  testconfig::TempConfig config;
  auto held = stackmgr::os::Lock::acquire(config.run_dir() / "lock", stackmgr::os::LockWait::no_wait,
                                          std::chrono::milliseconds(0));
  ASSERT_TRUE(held.ok()) << held.error().describe();
  // Not refused as another root: it goes on to the real root's switch, which finds the lock taken.
  const auto ran = testrun::run(kBinary, {"--root", "/.", "--config", config.file().string(), "switch",
                                          "native", "--no-wait", "--yes"});
  EXPECT_EQ(ran.exit_code, 6) << ran.out << ran.err;
  EXPECT_THAT(ran.err, ::testing::Not(HasSubstr("refusing to switch with --root")));
}

TEST(CmdSwitch, ARunDirThatStackmgrDidNotMakeIsRefusedAndLeftAlone) {
  if (::geteuid() != 0) GTEST_SKIP() << "switch needs root; this test runs it as root";
  testconfig::TempConfig config;
  std::filesystem::create_directory(config.run_dir());  // a shared directory, like /run
  ::chmod(config.run_dir().c_str(), 0755);
  const auto ran =
      testrun::run(kBinary, {"--config", config.file().string(), "switch", "native", "--no-wait", "--yes"});
  EXPECT_EQ(ran.exit_code, 7) << ran.out << ran.err;
  EXPECT_THAT(ran.out + ran.err,
              HasSubstr("refusing to use " + config.run_dir().string() +
                        " as stackmgr's own directory (paths.run_dir): it exists with mode 0755"));
  struct stat info {};
  ASSERT_EQ(::stat(config.run_dir().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0755U) << "never chmod'ed";
  EXPECT_FALSE(std::filesystem::exists(config.run_dir() / "lock"));
}

}  // namespace
}  // namespace stackmgr::cli
