// The real `stackmgr detect` binary (stackmgr/cmd_detect.cpp): on this host, and with --root on
// fixture roots whose module index is a real libkmod index (depmod over the Debian kernel's .ko).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/detect/fixture_root.hpp"
#include "tests/detect/run_process.hpp"

namespace {

using detect_test::FixtureRoot;
using detect_test::run_process;
using nlohmann::json;
using testing::AllOf;
using testing::AnyOf;
using testing::HasSubstr;

const std::string kBinary = STACKMGR_BINARY;

std::string joined(const json& list) {
  std::string text;
  for (const auto& item : list) text += item.get<std::string>() + "\n";
  return text;
}

json parse_or_fail(const detect_test::ProcessResult& result) {
  json parsed = json::parse(result.out, nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << result.out << "\nstderr: " << result.err;
  return parsed;
}

int expected_exit(const std::string& overall) {
  if (overall == "conflict") return 10;
  if (overall == "broken") return 11;
  return 0;
}

// The facts every answer must respect, whatever the host: an explained verdict per stack, an exit
// code that matches the overall state, and no "absent" without a module index to say so.
void expect_consistent(const json& report, int exit_code) {
  ASSERT_EQ(report["schema"], "stackmgr.detect/1");
  EXPECT_EQ(exit_code, expected_exit(report["overall"]));
  EXPECT_FALSE(report["reasons"].empty());
  for (const char* stack : {"native", "klips"}) {
    EXPECT_FALSE(report["stacks"][stack]["reasons"].empty()) << stack;
  }
  for (const auto& module : report["modules"]) {
    if (module["state"] == "absent") {
      EXPECT_TRUE(report["subsystem"]["modules_dir_exists"].get<bool>()) << module["name"];
    }
    if (module["state"] == "unknown") {
      EXPECT_TRUE(module["note"].is_string()) << module["name"];
    }
  }
}

TEST(DetectBinary, ThisHostGetsAnExplainedVerdict) {
  const auto result = run_process({kBinary, "detect", "--json"});
  const json report = parse_or_fail(result);
  expect_consistent(report, result.exit_code);
  if (std::filesystem::exists("/proc/net/xfrm_stat")) {
    EXPECT_THAT(joined(report["reasons"]), HasSubstr("XFRM framework built in"));
    EXPECT_EQ(report["markers"]["xfrm_framework"], true);
  }
  if (!std::filesystem::exists("/proc/modules")) {
    // This build host: XFRM built in, no module support, no index for the running kernel.
    EXPECT_EQ(report["subsystem"]["supported"], "no");
    EXPECT_EQ(report["stacks"]["native"]["verdict"], "unavailable");
    EXPECT_THAT(joined(report["stacks"]["native"]["reasons"]), HasSubstr("no module support"));
    if (!std::filesystem::exists("/proc/net/pfkey")) {
      EXPECT_THAT(joined(report["stacks"]["native"]["reasons"]),
                  HasSubstr("af_key is not in the kernel: /proc/net/pfkey is missing"));
    }
    if (!report["subsystem"]["modules_dir_exists"].get<bool>()) {
      for (const auto& module : report["modules"]) {
        EXPECT_THAT(module["state"].get<std::string>(), AnyOf("unknown", "builtin")) << module["name"];
      }
    }
  }
}

TEST(DetectBinary, TableNamesTheOverallStateAndEveryModule) {
  const auto result = run_process({kBinary, "detect"});
  EXPECT_THAT(result.out, HasSubstr("Overall: "));
  EXPECT_THAT(result.out, HasSubstr("native "));
  EXPECT_THAT(result.out, HasSubstr("ipsec_blowfish"));
  EXPECT_THAT(result.out, HasSubstr("/proc/net/pfkey (af_key)"));
}

TEST(DetectBinary, HelpDocumentsTheExitCodes) {
  const auto result = run_process({kBinary, "detect", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("10  conflict"));
  EXPECT_THAT(result.out, HasSubstr("11  broken"));
}

class DetectBinaryOnFixture : public testing::Test {
 protected:
  void SetUp() override {
    const auto release = detect_test::debian_kernel_release();
    if (!release) GTEST_SKIP() << "the Debian kernel's module index (linux-image-amd64) is not installed";
    real_modules_ = "/lib/modules/" + *release;
  }

  // Runs `stackmgr --root <case> detect --json` with the case's index built by depmod.
  std::pair<json, int> detect(std::string_view name) {
    const FixtureRoot fixture(name);
    if (const detect::Status built = fixture.build_kmod_index(real_modules_); !built) {
      ADD_FAILURE() << built.error().describe();
      return {};
    }
    const auto result = run_process({kBinary, "--root", fixture.path().string(), "detect", "--json"});
    json report = parse_or_fail(result);
    expect_consistent(report, result.exit_code);
    return {report, result.exit_code};
  }

  std::filesystem::path real_modules_;
};

const json& module_named(const json& report, std::string_view name) {
  for (const auto& module : report["modules"]) {
    if (module["name"] == name) return module;
  }
  throw std::runtime_error("no module " + std::string(name));
}

TEST_F(DetectBinaryOnFixture, CleanFixtureIsNoneWithRealIndexFacts) {
  const auto [report, exit_code] = detect("clean");
  EXPECT_EQ(exit_code, 0);
  EXPECT_EQ(report["overall"], "none");
  EXPECT_EQ(report["stacks"]["native"]["verdict"], "loadable");
  const json& af_key = module_named(report, "af_key");
  EXPECT_EQ(af_key["state"], "available");
  EXPECT_THAT(af_key["path"].get<std::string>(),
              HasSubstr("/lib/modules/6.1.0-fixture/kernel/net/key/af_key.ko"));
  EXPECT_EQ(af_key["dependencies"], json::array({"xfrm_algo"}));
  EXPECT_EQ(module_named(report, "ipcomp6")["dependencies"],
            json::array({"xfrm_algo", "xfrm_ipcomp", "tunnel6", "xfrm6_tunnel"}));
}

TEST_F(DetectBinaryOnFixture, NativeLiveExitsZeroAsNative) {
  const auto [report, exit_code] = detect("native_live");
  EXPECT_EQ(exit_code, 0);
  EXPECT_EQ(report["overall"], "native");
  EXPECT_EQ(module_named(report, "xfrm_user")["refcnt"], 2);
}

TEST_F(DetectBinaryOnFixture, BothLiveExitsTenForConflict) {
  const auto [report, exit_code] = detect("both_live");
  EXPECT_EQ(exit_code, 10);
  EXPECT_EQ(report["overall"], "conflict");
}

// detect reads the same catalog as plan and switch: the config's, [[modules.extra]] included.
TEST_F(DetectBinaryOnFixture, TheConfigsExtraModulesJoinTheCatalogAsForEveryCommand) {
  if (::geteuid() != 0) GTEST_SKIP() << "stackmgr trusts only a root-owned config";
  const FixtureRoot fixture("native_live");
  ASSERT_TRUE(fixture.build_kmod_index(real_modules_).ok());
  // A module the built-in lists do not know is live next to the native stack.
  std::stringstream modules;
  modules << std::ifstream(fixture.path() / "proc/modules").rdbuf();
  fixture.write("proc/modules", modules.str() + "ipsec_serpent 16384 0 - Live 0x0000000000000000 (OE)\n");
  auto result = run_process({kBinary, "--root", fixture.path().string(), "detect", "--json"});
  EXPECT_EQ(result.exit_code, 0) << "not in the built-in lists: native alone";
  EXPECT_EQ(parse_or_fail(result)["overall"], "native");

  // The config says it is KLIPS code: both stacks are in the kernel, as plan and switch see it.
  fixture.write("etc/stackmgr/stackmgr.toml",
                "[[modules.extra]]\nname = \"ipsec_serpent\"\nstack = \"klips\"\nrole = \"core\"\n");
  result = run_process({kBinary, "--root", fixture.path().string(), "detect", "--json"});
  const json report = parse_or_fail(result);
  expect_consistent(report, result.exit_code);
  EXPECT_EQ(report["overall"], "conflict") << result.err;
  EXPECT_EQ(result.exit_code, 10);
  EXPECT_EQ(module_named(report, "ipsec_serpent")["state"], "live");
}

TEST_F(DetectBinaryOnFixture, AConfigThatCannotBeReadIsAWarningAndTheBuiltInListsAnswer) {
  const FixtureRoot fixture("native_live");
  ASSERT_TRUE(fixture.build_kmod_index(real_modules_).ok());
  fixture.write("etc/stackmgr/stackmgr.toml", "stak = \"klips\"\n");
  const auto result = run_process({kBinary, "--root", fixture.path().string(), "detect", "--json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(parse_or_fail(result)["overall"], "native");
  EXPECT_THAT(result.err, HasSubstr("using the built-in module lists"));
}

TEST_F(DetectBinaryOnFixture, MarkersWithoutModulesExitElevenForBroken) {
  const auto [report, exit_code] = detect("broken_pfkey");
  EXPECT_EQ(exit_code, 11);
  EXPECT_THAT(joined(report["reasons"]), HasSubstr("/proc/net/pfkey exists, but af_key is available"));
}

TEST_F(DetectBinaryOnFixture, BuiltinComesFromModulesBuiltin) {
  const auto [report, exit_code] = detect("native_builtin");
  EXPECT_EQ(report["stacks"]["native"]["verdict"], "builtin");
  EXPECT_EQ(module_named(report, "esp4")["state"], "builtin");
  EXPECT_TRUE(module_named(report, "esp4")["path"].is_null());
}

TEST_F(DetectBinaryOnFixture, BlacklistComesFromTheRootsModprobeD) {
  const auto [report, exit_code] = detect("blacklisted_esp4");
  EXPECT_EQ(module_named(report, "esp4")["state"], "blacklisted");
  EXPECT_EQ(module_named(report, "ah4")["blacklisted"], false);
  EXPECT_EQ(report["stacks"]["native"]["verdict"], "unavailable");
}

TEST_F(DetectBinaryOnFixture, GuardAndKlipsDeviceAreSeenUnderTheRoot) {
  const auto [report, exit_code] = detect("guarded");
  EXPECT_EQ(report["overall"], "klips");
  EXPECT_EQ(module_named(report, "af_key")["guarded"], true);
  EXPECT_EQ(report["markers"]["ipsec_interfaces"], json::array({"ipsec0"}));
}

TEST_F(DetectBinaryOnFixture, NoModuleSupportIsExplainedNotAbsent) {
  const auto [report, exit_code] = detect("no_module_support");
  EXPECT_EQ(exit_code, 0);
  EXPECT_EQ(report["subsystem"]["supported"], "no");
  EXPECT_EQ(module_named(report, "esp4")["state"], "unknown");
}

TEST_F(DetectBinaryOnFixture, GarbageProcModulesIsExplained) {
  const auto [report, exit_code] = detect("malformed_garbage");
  EXPECT_EQ(module_named(report, "af_key")["state"], "unknown");
  EXPECT_THAT(joined(report["subsystem"]["notes"]), HasSubstr("malformed"));
}

TEST_F(DetectBinaryOnFixture, WithoutRootUnreadableFilesAreExplained) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the binary as nobody (setpriv)";
  const FixtureRoot fixture("native_live");
  ASSERT_TRUE(fixture.build_kmod_index(real_modules_).ok());
  std::filesystem::permissions(fixture.path(),
                               std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                                   std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                                   std::filesystem::perms::others_exec);
  std::filesystem::remove_all(fixture.path() / "sys/module");
  ::chmod((fixture.path() / "proc/modules").c_str(), 0);
  ::chmod((fixture.path() / "proc/sys/kernel/modules_disabled").c_str(), 0);
  fixture.write("proc/self/status", "CapEff:\t0000000000000000\nCapBnd:\t000001ffffffffff\n");
  const auto result =
      run_process({"setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
                   kBinary, "--root", fixture.path().string(), "detect", "--json"});
  if (result.exit_code == 127 || result.out.empty()) {
    GTEST_SKIP() << "cannot run the binary as nobody (is the build tree readable by others?): " << result.err;
  }
  const json report = parse_or_fail(result);
  expect_consistent(report, result.exit_code);
  EXPECT_THAT(joined(report["subsystem"]["notes"]),
              AllOf(HasSubstr("cannot use /proc/modules"), HasSubstr("Permission denied")));
  EXPECT_EQ(report["subsystem"]["modules_disabled"], "unknown");
  // No /sys/module for these modules in the fixture: their loaded state is unknown, never absent.
  EXPECT_EQ(module_named(report, "af_key")["state"], "unknown");
  EXPECT_EQ(report["stacks"]["native"]["verdict"], "partial");
}

}  // namespace
