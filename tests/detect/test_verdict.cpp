// detect/verdict.cpp: the verdict per stack and the overall state, as pure functions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "detect/verdict.hpp"

namespace {

using detect::Fact;
using detect::Markers;
using detect::ModuleState;
using detect::ModuleStatus;
using detect::ModuleSubsystem;
using detect::Overall;
using detect::Stack;
using detect::Verdict;
using testing::AllOf;
using testing::Contains;
using testing::HasSubstr;
using testing::IsEmpty;
using testing::Not;

ModuleSubsystem healthy() {
  ModuleSubsystem subsystem;
  subsystem.supported = Fact::yes;
  subsystem.modules_disabled = Fact::no;
  subsystem.cap_sys_module = Fact::yes;
  subsystem.cap_sys_module_bounding = Fact::yes;
  subsystem.kernel_release = "6.1.0-56-amd64";
  subsystem.modules_dir = "/lib/modules/6.1.0-56-amd64";
  subsystem.modules_dir_exists = true;
  return subsystem;
}

Markers readable_proc() {
  Markers markers;
  markers.proc_net_readable = true;
  return markers;
}

// The default catalog's modules, every one in `fallback` unless named in `states`.
std::vector<ModuleStatus> modules(const std::map<std::string, ModuleState>& states,
                                  ModuleState fallback = ModuleState::available) {
  std::vector<ModuleStatus> result;
  const detect::Catalog catalog = detect::Catalog::defaults();
  for (const detect::ModuleSpec& spec : catalog.all()) {
    ModuleStatus status;
    status.spec = spec;
    const auto found = states.find(spec.name);
    status.state = found == states.end() ? fallback : found->second;
    if (detect::is_loaded(status.state)) status.refcnt = 0;
    result.push_back(status);
  }
  return result;
}

ModuleStatus& find(std::vector<ModuleStatus>& list, const std::string& name) {
  for (ModuleStatus& status : list) {
    if (status.spec.name == name) return status;
  }
  throw std::runtime_error("no module " + name);
}

std::string all_reasons(const detect::StackReport& report) {
  std::string text;
  for (const std::string& reason : report.reasons) text += reason + "\n";
  return text;
}

const auto kNativeLive = std::map<std::string, ModuleState>{
    {"af_key", ModuleState::live}, {"esp4", ModuleState::live}, {"ah4", ModuleState::live}};
const auto kNativeBuiltin = std::map<std::string, ModuleState>{
    {"af_key", ModuleState::builtin}, {"esp4", ModuleState::builtin}, {"ah4", ModuleState::builtin}};

TEST(JudgeStack, EveryCoreBuiltInIsBuiltin) {
  const auto report = detect::judge_stack(Stack::native, modules(kNativeBuiltin), healthy(), readable_proc());
  EXPECT_EQ(report.verdict, Verdict::builtin);
  EXPECT_THAT(all_reasons(report), HasSubstr("cannot be unloaded"));
}

TEST(JudgeStack, EveryCoreLiveIsActive) {
  auto list = modules(kNativeLive);
  find(list, "af_key").refcnt = 2;
  find(list, "af_key").holders = {"xfrm_user"};
  const auto report = detect::judge_stack(Stack::native, list, healthy(), readable_proc());
  EXPECT_EQ(report.verdict, Verdict::active);
  EXPECT_THAT(all_reasons(report), HasSubstr("af_key live (refcnt 2, held by xfrm_user)"));
}

TEST(JudgeStack, LiveAndBuiltinMixedIsActive) {
  const auto report = detect::judge_stack(
      Stack::native,
      modules({{"af_key", ModuleState::live}, {"esp4", ModuleState::builtin}, {"ah4", ModuleState::builtin}}),
      healthy(), readable_proc());
  EXPECT_EQ(report.verdict, Verdict::active);
  EXPECT_THAT(all_reasons(report), HasSubstr("esp4 built in"));
}

TEST(JudgeStack, SomeCorePresentIsPartialAndNamesTheMissing) {
  const auto report = detect::judge_stack(Stack::native, modules({{"af_key", ModuleState::live}}), healthy(),
                                          readable_proc());
  EXPECT_EQ(report.verdict, Verdict::partial);
  EXPECT_THAT(all_reasons(report), AllOf(HasSubstr("only part"), HasSubstr("esp4 on disk, not loaded")));
}

TEST(JudgeStack, ComingOrGoingCoreIsPartialNotActive) {
  auto states = kNativeLive;
  states["esp4"] = ModuleState::going;
  const auto report = detect::judge_stack(Stack::native, modules(states), healthy(), readable_proc());
  EXPECT_EQ(report.verdict, Verdict::partial);
  EXPECT_THAT(all_reasons(report), HasSubstr("esp4 going (being unloaded)"));
}

TEST(JudgeStack, HelpersDoNotDecideTheVerdict) {
  auto states = kNativeLive;
  states["xfrm_user"] = ModuleState::absent;
  states["ipcomp"] = ModuleState::blacklisted;
  EXPECT_EQ(detect::judge_stack(Stack::native, modules(states), healthy(), readable_proc()).verdict,
            Verdict::active);
  EXPECT_EQ(detect::judge_stack(Stack::native, modules({{"xfrm_user", ModuleState::live}}), healthy(),
                                readable_proc())
                .verdict,
            Verdict::loadable);
}

TEST(JudgeStack, AllOnDiskOnAHealthyHostIsLoadable) {
  const auto report = detect::judge_stack(Stack::native, modules({}), healthy(), readable_proc());
  EXPECT_EQ(report.verdict, Verdict::loadable);
  EXPECT_THAT(all_reasons(report), HasSubstr("af_key, esp4, ah4 are on disk and can be loaded"));
  EXPECT_THAT(all_reasons(report), Not(HasSubstr("needs root")));
}

TEST(JudgeStack, LoadableWithoutEffectiveCapabilitySaysRootIsNeeded) {
  auto subsystem = healthy();
  subsystem.cap_sys_module = Fact::no;
  const auto report = detect::judge_stack(Stack::native, modules({}), subsystem, readable_proc());
  EXPECT_EQ(report.verdict, Verdict::loadable);
  EXPECT_THAT(all_reasons(report), HasSubstr("needs root"));
}

TEST(JudgeStack, NoCapabilityInTheBoundingSetIsUnavailable) {
  auto subsystem = healthy();
  subsystem.cap_sys_module = Fact::no;
  subsystem.cap_sys_module_bounding = Fact::no;
  const auto report = detect::judge_stack(Stack::native, modules({}), subsystem, readable_proc());
  EXPECT_EQ(report.verdict, Verdict::unavailable);
  EXPECT_THAT(all_reasons(report), HasSubstr("bounding set"));
}

TEST(JudgeStack, BlacklistedCoreIsUnavailableAndSaysWhatToRemove) {
  const auto report = detect::judge_stack(Stack::native, modules({{"esp4", ModuleState::blacklisted}}),
                                          healthy(), readable_proc());
  EXPECT_EQ(report.verdict, Verdict::unavailable);
  EXPECT_THAT(all_reasons(report), AllOf(HasSubstr("esp4 is blacklisted"), HasSubstr("'blacklist esp4'")));
}

TEST(JudgeStack, AbsentCoreIsUnavailableNamingTheKernel) {
  const auto report = detect::judge_stack(Stack::klips, modules({{"ipsec", ModuleState::absent}}), healthy(),
                                          readable_proc());
  EXPECT_EQ(report.verdict, Verdict::unavailable);
  EXPECT_THAT(all_reasons(report),
              HasSubstr("ipsec is neither built in nor on disk for kernel 6.1.0-56-amd64"));
}

TEST(JudgeStack, ModulesDisabledIsUnavailableUntilReboot) {
  auto subsystem = healthy();
  subsystem.modules_disabled = Fact::yes;
  const auto report = detect::judge_stack(Stack::native, modules({}), subsystem, readable_proc());
  EXPECT_EQ(report.verdict, Verdict::unavailable);
  EXPECT_THAT(all_reasons(report), AllOf(HasSubstr("modules_disabled is 1"), HasSubstr("reboot")));
}

TEST(JudgeStack, ModulesDisabledDoesNotHideAStackAlreadyIn) {
  auto subsystem = healthy();
  subsystem.modules_disabled = Fact::yes;
  EXPECT_EQ(detect::judge_stack(Stack::native, modules(kNativeLive), subsystem, readable_proc()).verdict,
            Verdict::active);
}

TEST(JudgeStack, UnknownModulesDisabledBlocksLoadingWithTheReason) {
  auto subsystem = healthy();
  subsystem.modules_disabled = Fact::unknown;
  subsystem.notes.push_back("cannot read modules_disabled: Permission denied");
  const auto report = detect::judge_stack(Stack::native, modules({}), subsystem, readable_proc());
  EXPECT_EQ(report.verdict, Verdict::unavailable);
  EXPECT_THAT(all_reasons(report), HasSubstr("Permission denied"));
}

TEST(JudgeStack, NoModuleSupportWithUnknownStatesIsUnavailableNeverAbsent) {
  auto subsystem = healthy();
  subsystem.supported = Fact::no;
  subsystem.modules_disabled = Fact::unknown;
  auto list = modules({}, ModuleState::unknown);
  for (ModuleStatus& status : list) status.note = "no module index for kernel 6.18";
  const auto report = detect::judge_stack(Stack::native, list, subsystem, readable_proc());
  EXPECT_EQ(report.verdict, Verdict::unavailable);
  const std::string reasons = all_reasons(report);
  EXPECT_THAT(reasons, HasSubstr("af_key is not in the kernel: /proc/net/pfkey is missing"));
  EXPECT_THAT(reasons, HasSubstr("cannot tell whether esp4, ah4 are in the kernel"));
  EXPECT_THAT(reasons, HasSubstr("no module support"));
  EXPECT_THAT(reasons, Not(HasSubstr("absent")));
}

TEST(JudgeStack, UnknownAfKeyWithPfkeyMarkerCountsAsPresent) {
  auto markers = readable_proc();
  markers.proc_net_pfkey = true;
  auto list = modules({}, ModuleState::unknown);
  const auto report = detect::judge_stack(Stack::native, list, healthy(), markers);
  EXPECT_EQ(report.verdict, Verdict::partial);
  EXPECT_THAT(all_reasons(report), HasSubstr("/proc/net/pfkey shows its code is in the kernel"));
}

TEST(JudgeStack, MissingMarkerIsNoEvidenceWhenProcNetIsUnreadable) {
  auto list = modules({}, ModuleState::unknown);
  for (ModuleStatus& status : list) status.note = "cannot tell whether it is loaded";
  const auto report = detect::judge_stack(Stack::klips, list, healthy(), Markers{});
  EXPECT_EQ(report.verdict, Verdict::unavailable);
  EXPECT_THAT(all_reasons(report), HasSubstr("cannot tell whether ipsec is in the kernel"));
  EXPECT_THAT(all_reasons(report), Not(HasSubstr("is missing")));
}

TEST(JudgeStack, EveryProblemIsListedNotJustTheFirst) {
  auto subsystem = healthy();
  subsystem.modules_disabled = Fact::yes;
  const auto report = detect::judge_stack(
      Stack::native, modules({{"esp4", ModuleState::blacklisted}, {"ah4", ModuleState::absent}}), subsystem,
      readable_proc());
  EXPECT_EQ(report.verdict, Verdict::unavailable);
  EXPECT_EQ(report.reasons.size(), 3U);
}

TEST(JudgeStack, GuardedCoresAreExplained) {
  auto list = modules({});
  find(list, "af_key").guarded = true;
  find(list, "esp4").guarded = true;
  const auto report = detect::judge_stack(Stack::native, list, healthy(), readable_proc());
  EXPECT_EQ(report.verdict, Verdict::loadable);
  EXPECT_THAT(all_reasons(report), HasSubstr("autoload guard blocks af_key, esp4"));
}

TEST(JudgeStack, StackWithoutCoreModulesIsUnavailable) {
  const auto report = detect::judge_stack(Stack::klips, {}, healthy(), readable_proc());
  EXPECT_EQ(report.verdict, Verdict::unavailable);
  EXPECT_THAT(all_reasons(report), HasSubstr("no core module"));
}

detect::OverallJudgement overall_of(const std::vector<ModuleStatus>& list, const Markers& markers,
                                    const ModuleSubsystem& subsystem = healthy()) {
  const auto native = detect::judge_stack(Stack::native, list, subsystem, markers);
  const auto klips = detect::judge_stack(Stack::klips, list, subsystem, markers);
  return detect::judge_overall(native, klips, list, markers);
}

std::string all_reasons(const detect::OverallJudgement& judgement) {
  std::string text;
  for (const std::string& reason : judgement.reasons) text += reason + "\n";
  return text;
}

TEST(JudgeOverall, NothingLoadedIsNone) {
  const auto judgement = overall_of(modules({}), readable_proc());
  EXPECT_EQ(judgement.overall, Overall::none);
  EXPECT_THAT(all_reasons(judgement), HasSubstr("neither stack"));
}

TEST(JudgeOverall, NativeLiveWithItsMarkerIsNative) {
  auto markers = readable_proc();
  markers.proc_net_pfkey = true;
  EXPECT_EQ(overall_of(modules(kNativeLive), markers).overall, Overall::native);
}

TEST(JudgeOverall, PartialNativeStillCountsAsNative) {
  auto markers = readable_proc();
  markers.proc_net_pfkey = true;
  EXPECT_EQ(overall_of(modules({{"af_key", ModuleState::live}}), markers).overall, Overall::native);
}

TEST(JudgeOverall, KlipsLiveWithItsMarkersIsKlips) {
  auto markers = readable_proc();
  markers.ipsec_version = true;
  markers.ipsec_interfaces = {"ipsec0"};
  EXPECT_EQ(overall_of(modules({{"ipsec", ModuleState::live}}), markers).overall, Overall::klips);
}

TEST(JudgeOverall, BothStacksInTheKernelIsConflict) {
  auto markers = readable_proc();
  markers.proc_net_pfkey = true;
  markers.ipsec_version = true;
  auto states = kNativeLive;
  states["ipsec"] = ModuleState::live;
  const auto judgement = overall_of(modules(states), markers);
  EXPECT_EQ(judgement.overall, Overall::conflict);
  EXPECT_THAT(all_reasons(judgement), AllOf(HasSubstr("both stacks"), HasSubstr("PF_KEY")));
}

TEST(JudgeOverall, PartialNativeAndKlipsIsConflict) {
  auto markers = readable_proc();
  markers.ipsec_version = true;
  EXPECT_EQ(overall_of(modules({{"esp4", ModuleState::live}, {"ipsec", ModuleState::live}}), markers).overall,
            Overall::conflict);
}

TEST(JudgeOverall, BothBuiltInIsConflict) {
  auto markers = readable_proc();
  markers.proc_net_pfkey = true;
  markers.ipsec_version = true;
  auto states = kNativeBuiltin;
  states["ipsec"] = ModuleState::builtin;
  EXPECT_EQ(overall_of(modules(states), markers).overall, Overall::conflict);
}

TEST(JudgeOverall, KlipsMarkersWithoutTheModuleIsBroken) {
  auto markers = readable_proc();
  markers.ipsec_version = true;
  markers.ipsec_eroute = true;
  const auto judgement = overall_of(modules({}), markers);
  EXPECT_EQ(judgement.overall, Overall::broken);
  EXPECT_THAT(all_reasons(judgement),
              AllOf(HasSubstr("KLIPS markers exist (/proc/net/ipsec/version, /proc/net/ipsec_eroute)"),
                    HasSubstr("ipsec module is available")));
}

TEST(JudgeOverall, PfkeyWithoutAfKeyIsBroken) {
  auto markers = readable_proc();
  markers.proc_net_pfkey = true;
  const auto judgement = overall_of(modules({{"af_key", ModuleState::absent}}), markers);
  EXPECT_EQ(judgement.overall, Overall::broken);
  EXPECT_THAT(all_reasons(judgement), HasSubstr("/proc/net/pfkey exists, but af_key is absent"));
}

TEST(JudgeOverall, Ipsec0WithoutKlipsIsBroken) {
  auto markers = readable_proc();
  markers.ipsec_interfaces = {"ipsec0"};
  const auto judgement = overall_of(modules({}), markers);
  EXPECT_EQ(judgement.overall, Overall::broken);
  EXPECT_THAT(all_reasons(judgement), HasSubstr("ipsec0 exists, but no KLIPS module"));
}

TEST(JudgeOverall, LiveAfKeyWithoutItsMarkerIsBroken) {
  const auto judgement = overall_of(modules(kNativeLive), readable_proc());
  EXPECT_EQ(judgement.overall, Overall::broken);
  EXPECT_THAT(all_reasons(judgement), HasSubstr("af_key is live, but /proc/net/pfkey is missing"));
}

TEST(JudgeOverall, LiveIpsecWithoutItsVersionFileIsBroken) {
  const auto judgement = overall_of(modules({{"ipsec", ModuleState::live}}), readable_proc());
  EXPECT_EQ(judgement.overall, Overall::broken);
  EXPECT_THAT(all_reasons(judgement), HasSubstr("ipsec is live, but /proc/net/ipsec/version is missing"));
}

TEST(JudgeOverall, ComingAfKeyWithoutMarkerIsNotBrokenYet) {
  auto states = kNativeLive;
  states["af_key"] = ModuleState::coming;
  EXPECT_EQ(overall_of(modules(states), readable_proc()).overall, Overall::native);
}

TEST(JudgeOverall, UnknownModuleStatesNeverMakeMarkersBroken) {
  auto markers = readable_proc();
  markers.proc_net_pfkey = true;
  markers.ipsec_interfaces = {"ipsec0"};
  const auto judgement = overall_of(modules({}, ModuleState::unknown), markers);
  EXPECT_NE(judgement.overall, Overall::broken);
  EXPECT_EQ(judgement.overall, Overall::native);
}

TEST(JudgeOverall, UnreadableProcNetMakesNoMarkerClaims) {
  EXPECT_EQ(overall_of(modules(kNativeLive), Markers{}).overall, Overall::native);
  EXPECT_THAT(detect::marker_disagreements(modules(kNativeLive), Markers{}), IsEmpty());
}

TEST(JudgeOverall, ForeignNetnsSkipsKlipsDeviceAndVersionChecks) {
  auto markers = readable_proc();
  markers.initial_netns = false;
  EXPECT_EQ(overall_of(modules({{"ipsec", ModuleState::live}}), markers).overall, Overall::klips);
}

TEST(JudgeOverall, XfrmMarkersAloneMeanTheFrameworkNotTheNativeStack) {
  auto markers = readable_proc();
  markers.xfrm_stat = true;
  markers.xfrm_acq_expires = true;
  const auto judgement = overall_of(modules({}), markers);
  EXPECT_EQ(judgement.overall, Overall::none);
  EXPECT_THAT(all_reasons(judgement), HasSubstr("XFRM framework built in"));
  EXPECT_THAT(all_reasons(judgement), HasSubstr("says nothing about af_key"));
}

TEST(JudgeOverall, ConflictAlsoListsMarkerDisagreements) {
  auto states = kNativeLive;
  states["ipsec"] = ModuleState::live;
  const auto judgement = overall_of(modules(states), readable_proc());
  EXPECT_EQ(judgement.overall, Overall::conflict);
  EXPECT_THAT(all_reasons(judgement), HasSubstr("/proc/net/pfkey is missing"));
}

TEST(HasCodeInKernel, OnlyActiveBuiltinAndPartial) {
  EXPECT_TRUE(detect::has_code_in_kernel(Verdict::active));
  EXPECT_TRUE(detect::has_code_in_kernel(Verdict::builtin));
  EXPECT_TRUE(detect::has_code_in_kernel(Verdict::partial));
  EXPECT_FALSE(detect::has_code_in_kernel(Verdict::loadable));
  EXPECT_FALSE(detect::has_code_in_kernel(Verdict::unavailable));
}

}  // namespace
