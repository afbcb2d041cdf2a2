// detect/detector.cpp: detect_host() on fixture roots (tests/detect/fixtures) with the fake kernel.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "detect/detector.hpp"
#include "detect/snapshot_json.hpp"
#include "tests/detect/fixture_root.hpp"
#include "tests/support/fake_kernel.hpp"

namespace {

using detect::Fact;
using detect::ModuleState;
using detect::Overall;
using detect::Verdict;
using detect_test::FixtureRoot;
using testing::AllOf;
using testing::Contains;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;

struct Detected {
  detect::Snapshot snapshot;
  nlohmann::ordered_json json;
};

// Detects the fixture `name`; `tweak` may adjust the fake kernel built from it first.
Detected detect_case(std::string_view name, const std::function<void(fake::FakeKernel&)>& tweak = {}) {
  const FixtureRoot fixture(name);
  const detect::HostRoot root = fixture.host();
  const detect::Catalog catalog = detect::Catalog::defaults();
  fake::FakeKernel kernel = fake::FakeKernel::from_fixture(root, catalog);
  if (tweak) tweak(kernel);
  const detect::SysfsNetDevices net(root);
  Detected result;
  result.snapshot = detect::detect_host(detect::DetectInputs{root, kernel, net, catalog});
  result.json = detect::snapshot_to_json(result.snapshot);
  return result;
}

std::string reasons_of(const std::vector<std::string>& reasons) {
  std::string text;
  for (const std::string& reason : reasons) text += reason + "\n";
  return text;
}

ModuleState state_of(const detect::Snapshot& snapshot, std::string_view name) {
  const detect::ModuleStatus* status = snapshot.module(name);
  if (status == nullptr) throw std::runtime_error("no module " + std::string(name));
  return status->state;
}

TEST(DetectHost, CleanHostHasNeitherStackAndBothLoadable) {
  const auto [snapshot, json] = detect_case("clean");
  EXPECT_EQ(snapshot.overall, Overall::none);
  EXPECT_EQ(snapshot.native.verdict, Verdict::loadable);
  EXPECT_EQ(snapshot.klips.verdict, Verdict::loadable);
  EXPECT_EQ(snapshot.subsystem.supported, Fact::yes);
  EXPECT_EQ(snapshot.subsystem.modules_disabled, Fact::no);
  EXPECT_EQ(snapshot.subsystem.cap_sys_module, Fact::yes);
  EXPECT_EQ(snapshot.subsystem.kernel_release, "6.1.0-fixture");
  EXPECT_TRUE(snapshot.subsystem.modules_dir_exists);
  EXPECT_EQ(state_of(snapshot, "af_key"), ModuleState::available);
  EXPECT_EQ(state_of(snapshot, "ipsec"), ModuleState::available);
  EXPECT_THAT(reasons_of(snapshot.reasons), HasSubstr("XFRM framework built in"));
  EXPECT_EQ(json["overall"], "none");
  EXPECT_EQ(json["stacks"]["native"]["verdict"], "loadable");
  EXPECT_EQ(json["markers"]["xfrm_framework"], true);
  EXPECT_EQ(json["markers"]["proc_net_pfkey"], false);
}

TEST(DetectHost, NativeLiveIsNativeWithRefcountsAndHolders) {
  const auto [snapshot, json] = detect_case("native_live");
  EXPECT_EQ(snapshot.overall, Overall::native);
  EXPECT_EQ(snapshot.native.verdict, Verdict::active);
  EXPECT_EQ(snapshot.klips.verdict, Verdict::loadable);
  EXPECT_EQ(state_of(snapshot, "xfrm_user"), ModuleState::live);
  EXPECT_TRUE(snapshot.markers.proc_net_pfkey);
  EXPECT_EQ(json["modules"][0]["name"], "af_key");
  EXPECT_EQ(json["modules"][0]["state"], "live");
  EXPECT_EQ(json["modules"][0]["refcnt"], 0);
  EXPECT_THAT(json["modules"][0]["dependencies"], Contains("xfrm_algo"));
  EXPECT_EQ(json["modules"][3]["name"], "xfrm_user");
  EXPECT_EQ(json["modules"][3]["refcnt"], 2);
}

TEST(DetectHost, NativeBuiltInIsBuiltin) {
  const auto [snapshot, json] = detect_case("native_builtin");
  EXPECT_EQ(snapshot.overall, Overall::native);
  EXPECT_EQ(snapshot.native.verdict, Verdict::builtin);
  EXPECT_EQ(state_of(snapshot, "esp4"), ModuleState::builtin);
  EXPECT_EQ(json["stacks"]["native"]["verdict"], "builtin");
  EXPECT_TRUE(json["modules"][0]["refcnt"].is_null());
}

TEST(DetectHost, KlipsLiveIsKlipsWithItsMarkers) {
  const auto [snapshot, json] = detect_case("klips_live");
  EXPECT_EQ(snapshot.overall, Overall::klips);
  EXPECT_EQ(snapshot.klips.verdict, Verdict::active);
  EXPECT_EQ(snapshot.native.verdict, Verdict::loadable);
  EXPECT_THAT(snapshot.markers.ipsec_interfaces, ElementsAre("ipsec0"));
  EXPECT_EQ(snapshot.markers.ipsec_version_text, "FreeS/WAN version: 2.06 (stackmgr test fixture)");
  EXPECT_TRUE(snapshot.markers.ipsec_eroute);
  EXPECT_TRUE(snapshot.markers.ipsec_spi);
  EXPECT_TRUE(snapshot.markers.proc_sys_net_ipsec);
  const detect::ModuleStatus* ipsec = snapshot.module("ipsec");
  ASSERT_NE(ipsec, nullptr);
  EXPECT_THAT(ipsec->holders, ElementsAre("ipsec_aes"));
  EXPECT_EQ(ipsec->refcnt, 1);
  EXPECT_EQ(json["markers"]["ipsec_interfaces"][0], "ipsec0");
}

TEST(DetectHost, BothLiveIsConflict) {
  const auto [snapshot, json] = detect_case("both_live");
  EXPECT_EQ(snapshot.overall, Overall::conflict);
  EXPECT_EQ(snapshot.native.verdict, Verdict::active);
  EXPECT_EQ(snapshot.klips.verdict, Verdict::active);
  EXPECT_THAT(reasons_of(snapshot.reasons), HasSubstr("both stacks have code in the kernel"));
  EXPECT_EQ(json["overall"], "conflict");
}

TEST(DetectHost, BothBuiltInIsConflict) {
  const auto [snapshot, json] = detect_case("both_builtin");
  EXPECT_EQ(snapshot.overall, Overall::conflict);
  EXPECT_EQ(snapshot.native.verdict, Verdict::builtin);
  EXPECT_EQ(snapshot.klips.verdict, Verdict::builtin);
}

TEST(DetectHost, ModulesDisabledMakesBothUnavailable) {
  const auto [snapshot, json] = detect_case("modules_disabled");
  EXPECT_EQ(snapshot.overall, Overall::none);
  EXPECT_EQ(snapshot.subsystem.modules_disabled, Fact::yes);
  EXPECT_EQ(snapshot.native.verdict, Verdict::unavailable);
  EXPECT_EQ(snapshot.klips.verdict, Verdict::unavailable);
  EXPECT_THAT(reasons_of(snapshot.native.reasons), HasSubstr("module loading is disabled"));
  EXPECT_EQ(state_of(snapshot, "af_key"), ModuleState::available);
  EXPECT_EQ(json["subsystem"]["modules_disabled"], "yes");
  EXPECT_EQ(json["subsystem"]["can_change_modules"], false);
}

TEST(DetectHost, BlacklistedEsp4IsReportedAsBlacklistedNotMissing) {
  const auto [snapshot, json] = detect_case("blacklisted_esp4");
  EXPECT_EQ(state_of(snapshot, "esp4"), ModuleState::blacklisted);
  EXPECT_EQ(state_of(snapshot, "ah4"), ModuleState::available);
  EXPECT_EQ(snapshot.native.verdict, Verdict::unavailable);
  EXPECT_THAT(reasons_of(snapshot.native.reasons), HasSubstr("esp4 is blacklisted in modprobe.d"));
  EXPECT_THAT(reasons_of(snapshot.native.reasons), Not(HasSubstr("absent")));
  EXPECT_EQ(json["modules"][1]["blacklisted"], true);
  EXPECT_EQ(json["modules"][1]["state"], "blacklisted");
}

TEST(DetectHost, NoModuleSupportIsUnknownNeverAbsent) {
  const auto [snapshot, json] = detect_case("no_module_support");
  EXPECT_EQ(snapshot.overall, Overall::none);
  EXPECT_EQ(snapshot.subsystem.supported, Fact::no);
  EXPECT_FALSE(snapshot.subsystem.modules_dir_exists);
  for (const detect::ModuleStatus& status : snapshot.modules) {
    EXPECT_EQ(status.state, ModuleState::unknown) << status.spec.name;
    EXPECT_THAT(status.note, HasSubstr("no module support")) << status.spec.name;
  }
  EXPECT_EQ(snapshot.native.verdict, Verdict::unavailable);
  EXPECT_THAT(reasons_of(snapshot.native.reasons),
              AllOf(HasSubstr("af_key is not in the kernel: /proc/net/pfkey is missing"),
                    HasSubstr("no module support")));
  EXPECT_THAT(reasons_of(snapshot.reasons), HasSubstr("XFRM framework built in"));
  EXPECT_EQ(json["subsystem"]["supported"], "no");
  EXPECT_EQ(json["modules"][1]["state"], "unknown");
}

TEST(DetectHost, MonolithicKernelWithItsBuiltinListIsBuiltin) {
  const auto [snapshot, json] = detect_case("no_module_support_builtin");
  EXPECT_EQ(snapshot.subsystem.supported, Fact::no);
  EXPECT_EQ(snapshot.native.verdict, Verdict::builtin);
  EXPECT_EQ(snapshot.overall, Overall::native);
  EXPECT_EQ(state_of(snapshot, "ipsec"), ModuleState::absent);
  EXPECT_EQ(snapshot.klips.verdict, Verdict::unavailable);
}

TEST(DetectHost, TruncatedProcModulesFallsBackToSysModule) {
  const auto [snapshot, json] = detect_case("malformed_truncated");
  EXPECT_THAT(reasons_of(snapshot.subsystem.notes),
              AllOf(HasSubstr("cannot use /proc/modules"), HasSubstr("malformed"), HasSubstr("/sys/module")));
  EXPECT_EQ(state_of(snapshot, "af_key"), ModuleState::live);
  EXPECT_EQ(state_of(snapshot, "esp4"), ModuleState::live);
  EXPECT_EQ(state_of(snapshot, "ah4"), ModuleState::available);
  EXPECT_THAT(snapshot.module("af_key")->note, HasSubstr("from /sys/module"));
  EXPECT_EQ(snapshot.native.verdict, Verdict::partial);
  EXPECT_EQ(snapshot.overall, Overall::native);
}

TEST(DetectHost, GarbageProcModulesWithoutSysfsIsUnknownNeverAbsent) {
  const auto [snapshot, json] = detect_case("malformed_garbage");
  for (const detect::ModuleStatus& status : snapshot.modules) {
    EXPECT_EQ(status.state, ModuleState::unknown) << status.spec.name;
    EXPECT_THAT(status.note, HasSubstr("cannot tell whether")) << status.spec.name;
  }
  EXPECT_EQ(snapshot.native.verdict, Verdict::unavailable);
  EXPECT_EQ(snapshot.klips.verdict, Verdict::unavailable);
  EXPECT_THAT(reasons_of(snapshot.native.reasons), HasSubstr("malformed"));
  EXPECT_NE(snapshot.overall, Overall::broken);
}

TEST(DetectHost, KlipsMarkersWithoutTheModuleIsBroken) {
  const auto [snapshot, json] = detect_case("broken_klips_markers");
  EXPECT_EQ(snapshot.overall, Overall::broken);
  EXPECT_THAT(reasons_of(snapshot.reasons), HasSubstr("KLIPS markers exist"));
  EXPECT_EQ(json["overall"], "broken");
}

TEST(DetectHost, PfkeyWithoutAfKeyIsBroken) {
  const auto [snapshot, json] = detect_case("broken_pfkey");
  EXPECT_EQ(snapshot.overall, Overall::broken);
  EXPECT_THAT(reasons_of(snapshot.reasons), HasSubstr("/proc/net/pfkey exists, but af_key is available"));
}

TEST(DetectHost, Ipsec0WithoutKlipsIsBroken) {
  const auto [snapshot, json] = detect_case("broken_ipsec0");
  EXPECT_EQ(snapshot.overall, Overall::broken);
  EXPECT_THAT(reasons_of(snapshot.reasons), HasSubstr("ipsec0 exists, but no KLIPS module"));
}

TEST(DetectHost, LiveAfKeyWithoutPfkeyIsBroken) {
  const auto [snapshot, json] = detect_case("broken_af_key_no_marker");
  EXPECT_EQ(snapshot.overall, Overall::broken);
  EXPECT_THAT(reasons_of(snapshot.reasons), HasSubstr("/proc/net/pfkey is missing"));
}

TEST(DetectHost, UnreadableFilesAreExplainedAndSysModuleTakesOver) {
  const auto [snapshot, json] =
      detect_case("unreadable", [](fake::FakeKernel& kernel) { kernel.fail_loaded_modules(EACCES); });
  EXPECT_EQ(snapshot.subsystem.modules_disabled, Fact::unknown);
  EXPECT_THAT(reasons_of(snapshot.subsystem.notes),
              AllOf(HasSubstr("cannot read modules_disabled"), HasSubstr("Permission denied")));
  EXPECT_EQ(state_of(snapshot, "af_key"), ModuleState::live);
  EXPECT_EQ(snapshot.module("af_key")->refcnt, 2);
  EXPECT_EQ(state_of(snapshot, "esp4"), ModuleState::available);
  EXPECT_EQ(snapshot.native.verdict, Verdict::partial);
  EXPECT_EQ(snapshot.klips.verdict, Verdict::unavailable);
  EXPECT_THAT(reasons_of(snapshot.klips.reasons),
              HasSubstr("cannot tell whether module loading is disabled"));
}

TEST(DetectHost, GuardIsReportedPerModuleAndExplained) {
  const auto [snapshot, json] = detect_case("guarded");
  EXPECT_EQ(snapshot.overall, Overall::klips);
  EXPECT_TRUE(snapshot.markers.guard_installed);
  EXPECT_TRUE(snapshot.module("af_key")->guarded);
  EXPECT_TRUE(snapshot.module("ah4")->guarded);
  EXPECT_FALSE(snapshot.module("xfrm_user")->guarded);
  EXPECT_THAT(reasons_of(snapshot.native.reasons), HasSubstr("autoload guard blocks af_key, esp4, ah4"));
  EXPECT_EQ(json["modules"][0]["guarded"], true);
  EXPECT_EQ(json["markers"]["guard_installed"], true);
}

TEST(DetectHost, XfrmInterfaceNamedIpsec1IsNotKlips) {
  const auto [snapshot, json] = detect_case("xfrm_interface");
  EXPECT_EQ(snapshot.overall, Overall::none);
  EXPECT_THAT(snapshot.markers.ipsec_interfaces, IsEmpty());
  EXPECT_THAT(reasons_of(snapshot.markers.notes), HasSubstr("ipsec1 is an XFRM interface"));
}

TEST(DetectHost, ContainerWithoutBoundingCapabilityIsUnavailable) {
  const auto [snapshot, json] = detect_case("container");
  EXPECT_EQ(snapshot.subsystem.cap_sys_module_bounding, Fact::no);
  EXPECT_EQ(snapshot.native.verdict, Verdict::unavailable);
  EXPECT_THAT(reasons_of(snapshot.native.reasons), HasSubstr("bounding set"));
}

TEST(DetectHost, NonRootSeesLoadableThatNeedsRoot) {
  const auto [snapshot, json] = detect_case("non_root");
  EXPECT_EQ(snapshot.subsystem.cap_sys_module, Fact::no);
  EXPECT_EQ(snapshot.native.verdict, Verdict::loadable);
  EXPECT_THAT(reasons_of(snapshot.native.reasons), HasSubstr("needs root"));
  EXPECT_EQ(json["subsystem"]["can_change_modules"], false);
}

TEST(DetectHost, UnmountedProcGivesUnknownsNotAbsents) {
  const auto [snapshot, json] = detect_case("proc_unmounted");
  EXPECT_EQ(snapshot.subsystem.supported, Fact::unknown);
  EXPECT_FALSE(snapshot.markers.proc_net_readable);
  EXPECT_THAT(reasons_of(snapshot.subsystem.notes), HasSubstr("/proc is not mounted"));
  for (const detect::ModuleStatus& status : snapshot.modules) {
    EXPECT_NE(status.state, ModuleState::absent) << status.spec.name;
  }
  EXPECT_EQ(snapshot.native.verdict, Verdict::unavailable);
  EXPECT_NE(snapshot.overall, Overall::broken);
}

TEST(DetectHost, AbsentNativeModulesAreUnavailableWithTheKernelNamed) {
  const auto [snapshot, json] = detect_case("native_absent");
  EXPECT_EQ(state_of(snapshot, "af_key"), ModuleState::absent);
  EXPECT_EQ(snapshot.native.verdict, Verdict::unavailable);
  EXPECT_THAT(reasons_of(snapshot.native.reasons),
              HasSubstr("neither built in nor on disk for kernel 6.1.0-fixture"));
  EXPECT_EQ(snapshot.klips.verdict, Verdict::loadable);
  EXPECT_EQ(state_of(snapshot, "ipsec_aes"), ModuleState::absent);
}

TEST(DetectHost, CatalogExtensionsAreDetectedToo) {
  const FixtureRoot fixture("native_live");
  detect::Catalog catalog = detect::Catalog::defaults();
  ASSERT_TRUE(catalog.add({"ext4", detect::Stack::native, detect::ModuleRole::helper}).ok());
  const detect::HostRoot root = fixture.host();
  const fake::FakeKernel kernel = fake::FakeKernel::from_fixture(root, catalog);
  const detect::SysfsNetDevices net(root);
  const detect::Snapshot snapshot = detect::detect_host(detect::DetectInputs{root, kernel, net, catalog});
  EXPECT_EQ(state_of(snapshot, "ext4"), ModuleState::live);
  EXPECT_EQ(snapshot.modules.size(), catalog.all().size());
}

}  // namespace
