// `stackmgr plan`, the real binary: exit codes, the refusal line and the JSON schema.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/stackmgr/cli/fixture_root.hpp"
#include "tests/stackmgr/cli/run_binary.hpp"

namespace stackmgr::cli {
namespace {

using ::testing::HasSubstr;

const std::string kBinary = STACKMGR_BINARY;

TEST(CmdPlan, AnUnknownStackIsAUsageErrorListingTheValidNames) {
  const auto ran = testrun::run(kBinary, {"plan", "ipsec2"});
  EXPECT_EQ(ran.exit_code, 2);
  EXPECT_THAT(ran.err, HasSubstr("unknown stack 'ipsec2': use klips, native, netkey or xfrm"));
}

TEST(CmdPlan, AcceptsTheOpenswanAliases) {
  testroot::FixtureRoot root;
  for (const char* alias : {"netkey", "xfrm", "NATIVE"}) {
    const auto ran = testrun::run(kBinary, {"--root", root.path().string(), "plan", alias, "--json"});
    EXPECT_EQ(ran.exit_code, 3) << alias << ran.err;
    EXPECT_EQ(nlohmann::json::parse(ran.out)["target"], "native") << alias;
  }
}

TEST(CmdPlan, WithoutModuleSupportTheRefusalSaysWhyAndExitsThree) {
  testroot::FixtureRoot root;
  const auto ran = testrun::run(kBinary, {"--root", root.path().string(), "plan", "klips"});
  EXPECT_EQ(ran.exit_code, 3) << ran.err;
  EXPECT_THAT(ran.out,
              HasSubstr("refused (rule no_module_operations): refusing to switch to KLIPS: this kernel has "
                        "no module support (no /proc/modules)"));
}

TEST(CmdPlan, BothStacksBuiltInIsRule3InJson) {
  testroot::FixtureRoot root;
  root.builtin("af_key");
  root.builtin("ipsec");
  root.write("proc/net/pfkey", "sk       RefCnt Rmem   Wmem   User   Inode\n");
  root.write("proc/net/ipsec/version", "FreeS/WAN version: stand-in\n");
  const auto ran = testrun::run(kBinary, {"--root", root.path().string(), "plan", "native", "--json"});
  EXPECT_EQ(ran.exit_code, 3) << ran.err;
  const auto json = nlohmann::json::parse(ran.out);
  EXPECT_EQ(json["schema"], "stackmgr.plan/1");
  EXPECT_EQ(json["result"], "refused");
  EXPECT_EQ(json["refusal"]["rule"], "both_builtin");
  EXPECT_THAT(json["refusal"]["message"].get<std::string>(),
              HasSubstr("both IPsec stacks are built into this kernel"));
}

TEST(CmdPlan, AStackBuiltInAndAlreadyThereIsAnEmptyPlanEvenWithoutModuleSupport) {
  testroot::FixtureRoot root;
  root.builtin("ipsec");
  root.write("proc/net/ipsec/version", "FreeS/WAN version: stand-in\n");
  const auto ran = testrun::run(kBinary, {"--root", root.path().string(), "plan", "klips"});
  // The autoload guard is still wanted on KLIPS; it needs no module support.
  EXPECT_EQ(ran.exit_code, 0) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("1. set autoload guard"));
  EXPECT_THAT(ran.out, HasSubstr("(dry run: nothing was changed)"));
}

TEST(CmdPlan, WorksWithoutRoot) {
  if (auto why = testrun::cannot_exec_as(kBinary, 65534)) GTEST_SKIP() << *why;
  testroot::FixtureRoot root;
  std::filesystem::permissions(root.path(),
                               std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                   std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                   std::filesystem::perms::others_exec);
  const auto ran = testrun::run(kBinary, {"--root", root.path().string(), "plan", "klips"}, 65534);
  EXPECT_EQ(ran.exit_code, 3) << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("no module support"));
}

}  // namespace
}  // namespace stackmgr::cli
