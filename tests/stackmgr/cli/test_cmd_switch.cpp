// `stackmgr switch`, the real binary: root only, usage, busy under the lock, refusals.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "stackmgr/os/lock.hpp"
#include "tests/stackmgr/cli/fixture_root.hpp"
#include "tests/stackmgr/cli/run_binary.hpp"

namespace stackmgr::cli {
namespace {

using ::testing::HasSubstr;

const std::string kBinary = STACKMGR_BINARY;

TEST(CmdSwitch, NeedsRoot) {
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
  testroot::FixtureRoot root;
  auto held = stackmgr::os::Lock::acquire(root.path() / "run/stackmgr/lock", stackmgr::os::LockWait::no_wait,
                                          std::chrono::milliseconds(0));
  ASSERT_TRUE(held.ok()) << held.error().describe();
  auto ran = testrun::run(kBinary, {"--root", root.path().string(), "switch", "native", "--no-wait"});
  EXPECT_EQ(ran.exit_code, 6) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("busy: another stackmgr (pid " + std::to_string(::getpid()) + ")"));

  ran = testrun::run(kBinary,
                     {"--root", root.path().string(), "switch", "native", "--timeout", "0.2", "--json"});
  EXPECT_EQ(ran.exit_code, 6);
  const auto json = nlohmann::json::parse(ran.out);
  EXPECT_EQ(json["outcome"], "busy");
  EXPECT_EQ(json["exit_code"], 6);
  EXPECT_THAT(json["failure"]["message"].get<std::string>(), HasSubstr("after waiting 200 ms"));
}

TEST(CmdSwitch, ARefusalChangesNothingAndExitsThree) {
  if (::geteuid() != 0) GTEST_SKIP() << "switch needs root; this test runs it as root";
  testroot::FixtureRoot root;
  const auto ran = testrun::run(kBinary, {"--root", root.path().string(), "switch", "klips", "--json"});
  EXPECT_EQ(ran.exit_code, 3) << ran.err;
  const auto json = nlohmann::json::parse(ran.out);
  EXPECT_EQ(json["schema"], "stackmgr.switch/1");
  EXPECT_EQ(json["outcome"], "refused");
  EXPECT_EQ(json["refusal"]["rule"], "no_module_operations");
  EXPECT_TRUE(json["records"].empty());
  EXPECT_FALSE(std::filesystem::exists(root.path() / "run/modprobe.d/stackmgr-guard.conf"));
}

}  // namespace
}  // namespace stackmgr::cli
