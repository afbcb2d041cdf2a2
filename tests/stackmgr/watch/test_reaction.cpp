// The event -> reaction rules of the module watch on plain structs.
#include <gtest/gtest.h>

#include "stackmgr/watch/reaction.hpp"

namespace stackmgr::watch {
namespace {

using detect::ModuleState;
using detect::Stack;
using std::chrono::seconds;
using Time = std::chrono::steady_clock::time_point;

const Time kT0{seconds(1000)};

detect::Snapshot snapshot_with(const std::vector<std::pair<std::string, ModuleState>>& states) {
  const detect::Catalog catalog = detect::Catalog::defaults();
  detect::Snapshot snapshot;
  for (const auto& spec : catalog.all()) {
    detect::ModuleStatus status;
    status.spec = spec;
    status.state = ModuleState::available;
    for (const auto& [name, state] : states) {
      if (name == spec.name) status.state = state;
    }
    snapshot.modules.push_back(status);
  }
  return snapshot;
}

detect::Snapshot native_ready() {
  return snapshot_with(
      {{"af_key", ModuleState::live}, {"esp4", ModuleState::live}, {"ah4", ModuleState::live}});
}

WatchEvent module_event(std::string name, WatchAction action) {
  return WatchEvent{WatchSubsystem::module, action, std::move(name)};
}

TEST(ModuleReactionClassify, CatalogModulesAndIpsecDevicesConcernIpsecOthersAreUnrelated) {
  const detect::Catalog catalog = detect::Catalog::defaults();
  EXPECT_EQ(classify(module_event("esp4", WatchAction::remove), catalog, "running"), EventClass::out_of_band);
  EXPECT_EQ(classify(module_event("xfrm_user", WatchAction::add), catalog, "running"),
            EventClass::out_of_band);
  EXPECT_EQ(classify(module_event("ipsec", WatchAction::add), catalog, "running"), EventClass::out_of_band);
  EXPECT_EQ(classify({WatchSubsystem::net, WatchAction::add, "ipsec0"}, catalog, "running"),
            EventClass::out_of_band);
  EXPECT_EQ(classify(module_event("dummy", WatchAction::add), catalog, "running"), EventClass::unrelated);
  EXPECT_EQ(classify({WatchSubsystem::net, WatchAction::add, "dummy0"}, catalog, "running"),
            EventClass::unrelated);
  EXPECT_EQ(classify({WatchSubsystem::net, WatchAction::add, "ipsecx"}, catalog, "running"),
            EventClass::unrelated);
  EXPECT_EQ(classify(module_event("esp4", WatchAction::other), catalog, "running"), EventClass::unrelated);
}

TEST(ModuleReactionClassify, EventsDuringStackmgrsOwnChangeAreOwn) {
  const detect::Catalog catalog = detect::Catalog::defaults();
  for (const char* phase : {"preparing-stack", "stopping", "switching", "unloading", "reloading"}) {
    EXPECT_EQ(classify(module_event("esp4", WatchAction::add), catalog, phase), EventClass::own) << phase;
  }
  for (const char* phase : {"starting", "running", "backoff"}) {
    EXPECT_EQ(classify(module_event("esp4", WatchAction::add), catalog, phase), EventClass::out_of_band)
        << phase;
  }
  EXPECT_EQ(classify(module_event("dummy", WatchAction::add), catalog, "switching"), EventClass::unrelated);
}

TEST(ModuleReactionDrift, AMissingChosenModuleAndANewOtherStackModuleAreSeen) {
  const KernelBaseline baseline = baseline_of(native_ready(), Stack::native);
  EXPECT_EQ(baseline.chosen_loaded, (std::vector<std::string>{"af_key", "esp4", "ah4"}));
  EXPECT_TRUE(baseline.other_loaded.empty());

  auto now = snapshot_with(
      {{"af_key", ModuleState::live}, {"ah4", ModuleState::live}, {"ipsec", ModuleState::live}});
  now.markers.guard_installed = true;
  const KernelDrift drift = drift_of(baseline, now);
  EXPECT_EQ(drift.missing, std::vector<std::string>{"esp4"});
  EXPECT_EQ(drift.conflicting, std::vector<std::string>{"ipsec"});
  EXPECT_TRUE(drift.guard_installed);
  EXPECT_TRUE(drift_of(baseline, native_ready()).none());
}

TEST(ModuleReactionDrift, AnOtherStackModuleAlreadyThereAtTheBaselineIsNotNew) {
  const auto start = snapshot_with({{"ipsec", ModuleState::live}, {"xfrm_user", ModuleState::live}});
  const KernelBaseline baseline = baseline_of(start, Stack::klips);
  EXPECT_TRUE(drift_of(baseline, start).none());
}

TEST(ModuleReactionDecide, AMissingModuleIsReloadedByDefaultAndStatusIsDegraded) {
  ReloadHistory history;
  const Reaction reaction =
      decide_reaction(config::WatchConfig{}, Stack::native, KernelDrift{{"esp4"}, {}, false}, history, kT0);
  EXPECT_EQ(reaction.kind, ReactionKind::reload);
  EXPECT_EQ(reaction.severity, Severity::error);
  EXPECT_TRUE(reaction.degraded);
  EXPECT_FALSE(reaction.conflict);
  EXPECT_NE(reaction.message.find("esp4"), std::string::npos) << reaction.message;
  EXPECT_NE(reaction.message.find("keeps running"), std::string::npos) << reaction.message;
}

TEST(ModuleReactionDecide, ReloadsAreRateLimitedThenOnlyReportedUntilTheWindowPasses) {
  config::WatchConfig config;
  config.reload_limit = 2;
  config.reload_window = std::chrono::milliseconds(60000);
  ReloadHistory history;
  const KernelDrift drift{{"esp4"}, {}, false};
  EXPECT_EQ(decide_reaction(config, Stack::native, drift, history, kT0).kind, ReactionKind::reload);
  EXPECT_EQ(decide_reaction(config, Stack::native, drift, history, kT0 + seconds(1)).kind,
            ReactionKind::reload);
  const Reaction third = decide_reaction(config, Stack::native, drift, history, kT0 + seconds(2));
  EXPECT_EQ(third.kind, ReactionKind::report);
  EXPECT_TRUE(third.degraded);
  EXPECT_NE(third.message.find("not reloading"), std::string::npos) << third.message;
  EXPECT_NE(third.message.find("reload_limit"), std::string::npos) << third.message;
  // The first reload leaves the window after 60 s: one more reload is allowed.
  EXPECT_EQ(decide_reaction(config, Stack::native, drift, history, kT0 + seconds(60)).kind,
            ReactionKind::reload);
  EXPECT_EQ(
      decide_reaction(config, Stack::native, drift, history, kT0 + std::chrono::milliseconds(60500)).kind,
      ReactionKind::report);
}

TEST(ModuleReactionDecide, AZeroReloadLimitNeverReloads) {
  config::WatchConfig config;
  config.reload_limit = 0;
  ReloadHistory history;
  EXPECT_EQ(decide_reaction(config, Stack::native, KernelDrift{{"esp4"}, {}, false}, history, kT0).kind,
            ReactionKind::report);
}

TEST(ModuleReactionDecide, TheConfiguredMissingReactionIsFollowed) {
  ReloadHistory history;
  config::WatchConfig config;
  config.on_missing = config::MissingReaction::stop_daemon;
  EXPECT_EQ(decide_reaction(config, Stack::native, KernelDrift{{"esp4"}, {}, false}, history, kT0).kind,
            ReactionKind::stop_daemon);
  config.on_missing = config::MissingReaction::report;
  const Reaction report =
      decide_reaction(config, Stack::native, KernelDrift{{"esp4"}, {}, false}, history, kT0);
  EXPECT_EQ(report.kind, ReactionKind::report);
  EXPECT_NE(report.message.find("stackmgr switch native"), std::string::npos) << report.message;
  EXPECT_TRUE(history.reloads.empty());
}

TEST(ModuleReactionDecide, AConflictIsCriticalStopsTheDaemonAndNeverReloads) {
  ReloadHistory history;
  const KernelDrift drift{{"ipsec"}, {"xfrm_user"}, true};
  const Reaction reaction = decide_reaction(config::WatchConfig{}, Stack::klips, drift, history, kT0);
  EXPECT_EQ(reaction.kind, ReactionKind::stop_daemon);
  EXPECT_EQ(reaction.severity, Severity::critical);
  EXPECT_TRUE(reaction.conflict);
  EXPECT_TRUE(reaction.degraded);
  EXPECT_TRUE(history.reloads.empty());
  EXPECT_NE(reaction.message.find("xfrm_user (native stack) appeared"), std::string::npos)
      << reaction.message;
  EXPECT_NE(reaction.message.find("autoload guard is installed"), std::string::npos) << reaction.message;
  EXPECT_NE(reaction.message.find("also gone: ipsec"), std::string::npos) << reaction.message;
  EXPECT_NE(reaction.message.find("loads nothing"), std::string::npos) << reaction.message;
}

TEST(ModuleReactionDecide, AConflictCanBeOnlyReported) {
  ReloadHistory history;
  config::WatchConfig config;
  config.on_conflict = config::ConflictReaction::report;
  const Reaction reaction =
      decide_reaction(config, Stack::native, KernelDrift{{}, {"ipsec"}, false}, history, kT0);
  EXPECT_EQ(reaction.kind, ReactionKind::report);
  EXPECT_TRUE(reaction.conflict);
  EXPECT_NE(reaction.message.find("guard is not installed"), std::string::npos) << reaction.message;
}

TEST(ModuleReactionDecide, NoDriftNoReaction) {
  ReloadHistory history;
  const Reaction reaction =
      decide_reaction(config::WatchConfig{}, Stack::native, KernelDrift{}, history, kT0);
  EXPECT_EQ(reaction.kind, ReactionKind::none);
  EXPECT_FALSE(reaction.degraded);
}

TEST(ModuleReactionHistory, KeepsTheLastRecordsOldestFirst) {
  WatchHistory history(3);
  for (int i = 0; i < 5; ++i) history.add({{}, "event " + std::to_string(i), "none", ""});
  ASSERT_EQ(history.records().size(), 3U);
  EXPECT_EQ(history.records().front().events, "event 2");
  EXPECT_EQ(history.records().back().events, "event 4");
}

TEST(ModuleReactionDescribe, SaysWhatHappenedToWhat) {
  EXPECT_EQ(describe(module_event("esp4", WatchAction::remove)), "module esp4 removed");
  EXPECT_EQ(describe({WatchSubsystem::net, WatchAction::add, "ipsec0"}), "net ipsec0 added");
}

}  // namespace
}  // namespace stackmgr::watch
