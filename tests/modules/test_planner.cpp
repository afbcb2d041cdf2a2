// The planner, rule by rule, against snapshots of a fake kernel.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "modules/planner.hpp"
#include "tests/modules/world.hpp"

namespace {

using detect::DiskState;
using detect::Fact;
using detect::Stack;
using modules::Need;
using modules::Plan;
using modules::PlanOrRefusal;
using modules::Policy;
using modules::Refusal;
using modules::Rule;
using modules::StepKind;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testworld::World;

Plan plan_of(const PlanOrRefusal& result) {
  if (const auto* refusal = std::get_if<Refusal>(&result)) {
    ADD_FAILURE() << "unexpected refusal: " << refusal->message;
    return {};
  }
  return std::get<Plan>(result);
}

Refusal refusal_of(const PlanOrRefusal& result) {
  if (const auto* refusal = std::get_if<Refusal>(&result)) return *refusal;
  ADD_FAILURE() << "expected a refusal, got a plan of " << std::get<Plan>(result).steps.size() << " steps";
  return {};
}

// "set_guard", "remove esp4", "insert ipsec"...
std::vector<std::string> describe(const Plan& plan) {
  std::vector<std::string> lines;
  for (const modules::Step& step : plan.steps) {
    std::string line(modules::to_string(step.kind));
    if (!step.module.empty()) line += " " + step.module;
    lines.push_back(line);
  }
  return lines;
}

std::string all_notes(const Plan& plan) {
  std::string text;
  for (const std::string& note : plan.notes) text += note + "\n";
  return text;
}

std::ptrdiff_t index_of(const std::vector<std::string>& lines, const std::string& line) {
  const auto found = std::find(lines.begin(), lines.end(), line);
  return found == lines.end() ? -1 : found - lines.begin();
}

// --- switching plans -------------------------------------------------------------------

TEST(PlanSwitch, FromNothingToNativeLoadsCoreThenHelpersAndLeavesIpcompOut) {
  World world;
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::native, Policy{}));
  EXPECT_THAT(describe(plan),
              ElementsAre("insert af_key", "insert esp4", "insert ah4", "insert xfrm_user",
                          "insert xfrm4_tunnel", "insert esp6", "insert ah6", "insert xfrm6_tunnel"));
  EXPECT_THAT(all_notes(plan), AllOf(HasSubstr("ipcomp, ipcomp6 not loaded"), HasSubstr("insecure"),
                                     HasSubstr("extra IPIP header"), HasSubstr("--allow-ipcomp")));
}

TEST(PlanSwitch, FromNothingToKlipsSetsTheGuardBeforeLoading) {
  World world;
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::klips, Policy{}));
  EXPECT_THAT(describe(plan), ElementsAre("set_guard", "insert ipsec", "insert ipsec_aes",
                                          "insert ipsec_sha2", "insert ipsec_blowfish"));
}

TEST(PlanSwitch, NativeToKlipsGuardsThenUnloadsHoldersFirstThenLoadsKlips) {
  World world;
  world.load({"af_key", "esp4", "ah4", "xfrm_user"});
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::klips, Policy{}));
  const auto lines = describe(plan);
  EXPECT_THAT(lines,
              ElementsAre("set_guard", "remove xfrm_user", "remove ah4", "remove esp4", "remove af_key",
                          "insert ipsec", "insert ipsec_aes", "insert ipsec_sha2", "insert ipsec_blowfish"));
  // xfrm_algo was not loaded by stackmgr: it stays (rule 9).
  EXPECT_EQ(index_of(lines, "remove xfrm_algo"), -1);
}

TEST(PlanSwitch, KlipsToNativeUnloadsKlipsHelpersFirstAndClearsTheGuardBeforeTheFirstNativeLoad) {
  World world;
  world.load({"ipsec", "ipsec_aes", "ipsec_sha2"});
  world.facts.guard_installed = true;
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::native, Policy{}));
  const auto lines = describe(plan);
  ASSERT_GE(lines.size(), 5U);
  EXPECT_THAT(
      std::vector<std::string>(lines.begin(), lines.begin() + 5),
      ElementsAre("remove ipsec_sha2", "remove ipsec_aes", "remove ipsec", "clear_guard", "insert af_key"));
}

TEST(PlanSwitch, ModulesInsideTheStackAreUnloadedHolderFirst) {
  World world;
  Policy policy;
  policy.allow_ipcomp = true;
  world.load({"af_key", "esp4", "ah4", "xfrm6_tunnel", "ipcomp6"});
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::klips, policy));
  const auto lines = describe(plan);
  EXPECT_LT(index_of(lines, "remove ipcomp6"), index_of(lines, "remove xfrm6_tunnel"));
  EXPECT_GE(index_of(lines, "remove ipcomp6"), 0);
}

TEST(PlanSwitch, AlreadyThereIsAnEmptyPlan) {
  World world;
  world.load({"af_key", "esp4", "ah4", "xfrm_user", "xfrm4_tunnel", "esp6", "ah6", "xfrm6_tunnel"});
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::native, Policy{}));
  EXPECT_TRUE(plan.already_there());
  EXPECT_THAT(all_notes(plan), HasSubstr("already in the kernel: af_key"));
}

TEST(PlanSwitch, KlipsLiveWithoutGuardOnlyInstallsTheGuard) {
  World world;
  world.load({"ipsec", "ipsec_aes", "ipsec_sha2", "ipsec_blowfish"});
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::klips, Policy{}));
  EXPECT_THAT(describe(plan), ElementsAre("set_guard"));
  world.facts.guard_installed = true;
  EXPECT_TRUE(plan_of(modules::plan_switch(world.snapshot(), Stack::klips, Policy{})).already_there());
}

TEST(PlanSwitch, WithoutUseGuardThereIsNoGuardStepButANote) {
  World world;
  Policy policy;
  policy.use_guard = false;
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::klips, policy));
  EXPECT_EQ(index_of(describe(plan), "set_guard"), -1);
  EXPECT_THAT(all_notes(plan), HasSubstr("no autoload guard"));
}

TEST(PlanSwitch, HelpersAreLeftOutWhenLoadHelpersIsOff) {
  World world;
  Policy policy;
  policy.load_helpers = false;
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::native, policy));
  EXPECT_THAT(describe(plan), ElementsAre("insert af_key", "insert esp4", "insert ah4"));
  EXPECT_THAT(all_notes(plan), HasSubstr("load_helpers is off"));
}

TEST(PlanSwitch, AbsentHelpersAreNotesNotRefusals) {
  World world;
  world.kernel.add_module("xfrm4_tunnel", DiskState::absent);
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::native, Policy{}));
  EXPECT_EQ(index_of(describe(plan), "insert xfrm4_tunnel"), -1);
  EXPECT_THAT(all_notes(plan), HasSubstr("not available for this kernel, not loaded: xfrm4_tunnel"));
}

TEST(PlanSwitch, AbsentCoreModuleIsARefusal) {
  World world;
  world.kernel.add_module("esp4", DiskState::absent);
  const Refusal refusal = refusal_of(modules::plan_switch(world.snapshot(), Stack::native, Policy{}));
  EXPECT_EQ(refusal.rule, Rule::module_missing);
  EXPECT_THAT(refusal.modules, ElementsAre("esp4"));
  EXPECT_THAT(refusal.message, AllOf(HasSubstr("refusing to switch to the native stack"),
                                     HasSubstr("esp4 is not available for kernel 6.1.0-fake")));
  EXPECT_THAT(refusal.advice, HasSubstr("install"));
}

// --- rule 1 and 2: the insert checks ---------------------------------------------------------

TEST(CheckInsert, Rule1RefusesKlipsWhileNativeModulesAreLoaded) {
  World world;
  world.load({"af_key", "esp4"});
  const auto refusal = modules::check_insert(world.snapshot(), "ipsec");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->rule, Rule::klips_over_native);
  EXPECT_THAT(refusal->modules, ElementsAre("af_key", "esp4"));
  EXPECT_EQ(refusal->message + "; " + refusal->advice,
            "refusing to load KLIPS: af_key, esp4 are loaded (loading KLIPS now would crash a 2.6 kernel); "
            "run 'stackmgr switch klips' to unload them first");
}

TEST(CheckInsert, Rule1CountsComingGoingHelpersAndKlipsAlgorithmModules) {
  World world;
  world.kernel.set_loaded("xfrm_user", detect::InitState::coming);
  ASSERT_TRUE(modules::check_insert(world.snapshot(), "ipsec").has_value());
  EXPECT_EQ(modules::check_insert(world.snapshot(), "ipsec_aes")->rule, Rule::klips_over_native);

  World going;
  going.kernel.set_loaded("esp4", detect::InitState::going);
  going.kernel.stay_going("esp4", 1000);
  EXPECT_EQ(modules::check_insert(going.snapshot(), "ipsec")->rule, Rule::klips_over_native);
}

TEST(CheckInsert, Rule1TrustsThePfkeyMarkerAndUnknownStatesAgainstKlips) {
  World world;
  detect::Snapshot snapshot = world.snapshot();
  snapshot.markers.proc_net_pfkey = true;  // a PF_KEY provider stackmgr does not know
  auto refusal = modules::check_insert(snapshot, "ipsec");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_THAT(refusal->message, HasSubstr("/proc/net/pfkey exists"));

  snapshot = world.snapshot();
  for (auto& status : snapshot.modules) {
    if (status.spec.name == "esp4") status.state = detect::ModuleState::unknown;
  }
  refusal = modules::check_insert(snapshot, "ipsec");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_THAT(refusal->message, HasSubstr("cannot tell whether esp4 is in the kernel"));
}

TEST(CheckInsert, Rule2RefusesNativeWhileKlipsIsLoadedOrItsMarkersArePresent) {
  World world;
  world.load({"ipsec"});
  auto refusal = modules::check_insert(world.snapshot(), "esp4");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->rule, Rule::native_over_klips);
  EXPECT_THAT(refusal->message, AllOf(HasSubstr("refusing to load esp4: KLIPS (ipsec) is loaded"),
                                      HasSubstr("only one PF_KEY")));
  EXPECT_THAT(refusal->advice, HasSubstr("'stackmgr switch native'"));

  World markers_only;
  detect::Snapshot snapshot = markers_only.snapshot();
  snapshot.markers.ipsec_version = true;
  refusal = modules::check_insert(snapshot, "af_key");
  ASSERT_TRUE(refusal.has_value());
  EXPECT_THAT(refusal->message, HasSubstr("/proc/net/ipsec/version"));
}

TEST(CheckInsert, SafeInsertsPass) {
  World world;
  EXPECT_FALSE(modules::check_insert(world.snapshot(), "ipsec").has_value());
  EXPECT_FALSE(modules::check_insert(world.snapshot(), "esp4").has_value());
  world.load({"ipsec"});
  // A shared dependency belongs to neither stack.
  EXPECT_FALSE(modules::check_insert(world.snapshot(), "xfrm_algo").has_value());
}

TEST(CheckInsert, RefusesInvalidNames) {
  World world;
  EXPECT_EQ(modules::check_insert(world.snapshot(), "esp4; rm -rf /")->rule, Rule::broken_state);
}

// --- rule 3 and 4: built-in stacks -----------------------------------------------------------

TEST(PlanSwitch, Rule3BothStacksBuiltInRefusesEveryChange) {
  World world;
  world.kernel.add_module("af_key", DiskState::builtin);
  world.kernel.add_module("ipsec", DiskState::builtin);
  for (const Stack target : {Stack::native, Stack::klips}) {
    const Refusal refusal = refusal_of(modules::plan_switch(world.snapshot(), target, Policy{}));
    EXPECT_EQ(refusal.rule, Rule::both_builtin);
    EXPECT_THAT(refusal.message,
                HasSubstr("both IPsec stacks are built into this kernel (native: af_key; KLIPS: ipsec)"));
    EXPECT_THAT(refusal.advice, HasSubstr("rebuild the kernel"));
  }
  EXPECT_EQ(refusal_of(modules::plan_unload_own(world.snapshot(), Policy{})).rule, Rule::both_builtin);
}

TEST(PlanSwitch, Rule4CannotLeaveABuiltInStack) {
  World world;
  world.kernel.add_module("esp4", DiskState::builtin);
  const Refusal refusal = refusal_of(modules::plan_switch(world.snapshot(), Stack::klips, Policy{}));
  EXPECT_EQ(refusal.rule, Rule::current_builtin);
  EXPECT_THAT(refusal.message, AllOf(HasSubstr("esp4 is built in"), HasSubstr("cannot be unloaded")));
  EXPECT_THAT(refusal.advice, HasSubstr("stay on the native stack ('stackmgr switch native')"));
  // Staying is fine: the built-in module is simply already there.
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::native, Policy{}));
  EXPECT_EQ(index_of(describe(plan), "insert esp4"), -1);
  EXPECT_GE(index_of(describe(plan), "insert af_key"), 0);

  World klips;
  klips.kernel.add_module("ipsec", DiskState::builtin);
  EXPECT_EQ(refusal_of(modules::plan_switch(klips.snapshot(), Stack::native, Policy{})).rule,
            Rule::current_builtin);
}

// --- rule 5: busy modules ---------------------------------------------------------------------

TEST(PlanSwitch, Rule5ASocketHoldingAfKeyIsABusyRefusal) {
  World world;
  world.load({"af_key", "esp4", "ah4"});
  world.kernel.hold("af_key");  // an open PF_KEY socket
  const Refusal refusal = refusal_of(modules::plan_switch(world.snapshot(), Stack::klips, Policy{}));
  EXPECT_EQ(refusal.rule, Rule::busy_module);
  EXPECT_THAT(refusal.modules, ElementsAre("af_key"));
  EXPECT_THAT(refusal.message, AllOf(HasSubstr("af_key is in use (1 reference"), HasSubstr("PF_KEY")));
  EXPECT_THAT(refusal.advice, HasSubstr("stackmgr stop"));
}

TEST(PlanSwitch, Rule5AHolderOutsideTheStackIsNamed) {
  World world;
  world.kernel.add_module("esp4_offload", DiskState::available, {"esp4"});
  world.load({"af_key", "esp4", "ah4", "esp4_offload"});
  const Refusal refusal = refusal_of(modules::plan_switch(world.snapshot(), Stack::klips, Policy{}));
  EXPECT_EQ(refusal.rule, Rule::busy_module);
  EXPECT_THAT(refusal.modules, ElementsAre("esp4", "esp4_offload"));
  EXPECT_THAT(refusal.message, HasSubstr("esp4 is used by esp4_offload, which is not being unloaded"));
  EXPECT_THAT(refusal.advice, HasSubstr("modprobe -r esp4_offload"));
}

// --- rule 6: no module operations --------------------------------------------------------------

TEST(PlanSwitch, Rule6ModulesDisabledNoCapabilityOrNoSupport) {
  World disabled;
  disabled.facts.modules_disabled = Fact::yes;
  Refusal refusal = refusal_of(modules::plan_switch(disabled.snapshot(), Stack::native, Policy{}));
  EXPECT_EQ(refusal.rule, Rule::no_module_operations);
  EXPECT_THAT(refusal.message, HasSubstr("modules_disabled is 1"));
  EXPECT_THAT(refusal.advice, HasSubstr("reboot"));

  World unprivileged;
  unprivileged.facts.cap_sys_module = Fact::no;
  refusal = refusal_of(modules::plan_switch(unprivileged.snapshot(), Stack::klips, Policy{}));
  EXPECT_EQ(refusal.rule, Rule::no_module_operations);
  EXPECT_THAT(refusal.message, HasSubstr("lacks CAP_SYS_MODULE"));
  EXPECT_EQ(refusal.advice, "run it as root");

  World container;
  container.kernel.set_module_support(false);
  refusal = refusal_of(modules::plan_switch(container.snapshot(), Stack::native, Policy{}));
  EXPECT_EQ(refusal.rule, Rule::no_module_operations);
  EXPECT_THAT(refusal.message, HasSubstr("no module support"));
  EXPECT_EQ(modules::check_insert(container.snapshot(), "esp4")->rule, Rule::no_module_operations);
}

TEST(PlanSwitch, Rule6DoesNotBlockAStackThatIsAlreadyThere) {
  World world;
  for (const char* name :
       {"af_key", "esp4", "ah4", "xfrm_user", "xfrm4_tunnel", "esp6", "ah6", "xfrm6_tunnel"}) {
    world.kernel.add_module(name, DiskState::builtin);
  }
  world.kernel.set_module_support(false);
  EXPECT_TRUE(plan_of(modules::plan_switch(world.snapshot(), Stack::native, Policy{})).already_there());
}

// --- rule 7: blacklist --------------------------------------------------------------------------

TEST(PlanSwitch, Rule7BlacklistedCoreModuleIsRefusedAndHelperIsANote) {
  World world;
  world.kernel.set_blacklisted("esp4");
  const Refusal refusal = refusal_of(modules::plan_switch(world.snapshot(), Stack::native, Policy{}));
  EXPECT_EQ(refusal.rule, Rule::blacklisted);
  EXPECT_THAT(refusal.message,
              HasSubstr("esp4 is blacklisted in modprobe.d, and stackmgr never force-loads"));
  EXPECT_THAT(refusal.advice, HasSubstr("'blacklist esp4'"));
  EXPECT_EQ(modules::check_insert(world.snapshot(), "esp4")->rule, Rule::blacklisted);

  World helper;
  helper.kernel.set_blacklisted("xfrm_user");
  const Plan plan = plan_of(modules::plan_switch(helper.snapshot(), Stack::native, Policy{}));
  EXPECT_EQ(index_of(describe(plan), "insert xfrm_user"), -1);
  EXPECT_THAT(all_notes(plan), HasSubstr("xfrm_user is blacklisted in modprobe.d; not loaded"));
}

// --- rule 8: IPComp -----------------------------------------------------------------------------

TEST(PlanSwitch, Rule8IpcompLoadsOnlyWhenAllowedAndSaysWhy) {
  World world;
  Policy policy;
  policy.allow_ipcomp = true;
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::native, policy));
  const auto lines = describe(plan);
  ASSERT_GE(index_of(lines, "insert ipcomp"), 0);
  EXPECT_GE(index_of(lines, "insert ipcomp6"), 0);
  EXPECT_THAT(plan.steps[static_cast<std::size_t>(index_of(lines, "insert ipcomp"))].reason,
              AllOf(HasSubstr("allow_ipcomp"), HasSubstr("insecure")));
}

TEST(PlanSwitch, Rule8ForeignIpcompIsLeftAloneWithAWarning) {
  World world;
  world.load({"af_key", "esp4", "ah4", "ipcomp"});
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::native, Policy{}));
  EXPECT_EQ(index_of(describe(plan), "remove ipcomp"), -1);
  EXPECT_THAT(all_notes(plan), HasSubstr("ipcomp is loaded (not by stackmgr) and left alone"));
}

// --- rule 9: what stackmgr loaded ---------------------------------------------------------------

TEST(PlanSwitch, Rule9DependenciesStackmgrLoadedAreCleanedUpBestEffort) {
  World world;
  world.load({"af_key", "esp4", "ah4", "xfrm4_tunnel"});
  Policy policy;
  policy.loaded_by_us = {"af_key", "esp4", "ah4", "xfrm4_tunnel", "xfrm_algo", "tunnel4"};
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::klips, policy));
  const auto lines = describe(plan);
  const auto algo = index_of(lines, "remove xfrm_algo");
  ASSERT_GE(algo, 0);
  EXPECT_GT(algo, index_of(lines, "remove af_key"));
  EXPECT_GT(algo, index_of(lines, "remove esp4"));
  EXPECT_GT(index_of(lines, "remove tunnel4"), index_of(lines, "remove xfrm4_tunnel"));
  EXPECT_LT(algo, index_of(lines, "insert ipsec"));
  EXPECT_EQ(plan.steps[static_cast<std::size_t>(algo)].need, Need::best_effort);
  EXPECT_THAT(plan.steps[static_cast<std::size_t>(algo)].reason,
              HasSubstr("loaded by stackmgr as a dependency of"));
}

TEST(PlanSwitch, Rule9ADependencyAStayingModuleNeedsIsKept) {
  World world;
  world.load({"ipsec", "xfrm_user"});  // a conflict: xfrm_user counts as native
  Policy policy;
  policy.loaded_by_us = {"ipsec", "xfrm_algo"};
  const Plan plan = plan_of(modules::plan_switch(world.snapshot(), Stack::native, policy));
  // Going native: ipsec goes; xfrm_algo is needed by the native modules that stay or come.
  EXPECT_EQ(index_of(describe(plan), "remove xfrm_algo"), -1);
}

TEST(PlanUnloadOwn, UnloadsOnlyWhatStackmgrLoadedInSafeOrder) {
  World world;
  world.load({"af_key", "esp4", "ah4", "xfrm_user"});
  Policy policy;
  policy.loaded_by_us = {"esp4", "ah4", "xfrm_user"};
  const Plan plan = plan_of(modules::plan_unload_own(world.snapshot(), policy));
  EXPECT_THAT(describe(plan), ElementsAre("remove xfrm_user", "remove ah4", "remove esp4"));
  EXPECT_THAT(all_notes(plan), HasSubstr("left alone (not loaded by stackmgr): af_key"));
}

TEST(PlanUnloadOwn, KeepsADependencyOfAModuleItDidNotLoad) {
  World world;
  world.load({"af_key", "esp4"});
  Policy policy;
  policy.loaded_by_us = {"esp4", "xfrm_algo"};
  const Plan plan = plan_of(modules::plan_unload_own(world.snapshot(), policy));
  EXPECT_THAT(describe(plan), ElementsAre("remove esp4"));
}

TEST(PlanUnloadOwn, CleansUpItsDependenciesAfterItsModules) {
  World world;
  world.load({"af_key", "esp4"});
  Policy policy;
  policy.loaded_by_us = {"af_key", "esp4", "xfrm_algo"};
  const Plan plan = plan_of(modules::plan_unload_own(world.snapshot(), policy));
  EXPECT_THAT(describe(plan), ElementsAre("remove esp4", "remove af_key", "remove xfrm_algo"));
  EXPECT_EQ(plan.steps.back().need, Need::best_effort);
}

TEST(PlanUnloadOwn, NothingToDoSaysSo) {
  World world;
  world.load({"af_key"});
  const Plan plan = plan_of(modules::plan_unload_own(world.snapshot(), Policy{}));
  EXPECT_TRUE(plan.already_there());
  EXPECT_THAT(all_notes(plan), HasSubstr("nothing to unload"));
}

TEST(PlanUnloadOwn, RefusesABusyModuleAndWithoutModuleOperations) {
  World world;
  world.load({"af_key"});
  world.kernel.hold("af_key");
  Policy policy;
  policy.loaded_by_us = {"af_key"};
  EXPECT_EQ(refusal_of(modules::plan_unload_own(world.snapshot(), policy)).rule, Rule::busy_module);
  world.kernel.release("af_key");
  world.facts.modules_disabled = Fact::yes;
  EXPECT_EQ(refusal_of(modules::plan_unload_own(world.snapshot(), policy)).rule, Rule::no_module_operations);
}

}  // namespace
