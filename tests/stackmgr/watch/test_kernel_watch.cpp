// The supervisor's module-watch memory: baseline, own changes, reconciliation,
// reactions and the status object, with a fake monitor and fake detection.
#include <gtest/gtest.h>

#include <deque>

#include "stackmgr/watch/kernel_watch.hpp"

namespace stackmgr::watch {
namespace {

using detect::ModuleState;
using detect::Stack;

class FakeMonitor final : public ModuleMonitor {
 public:
  explicit FakeMonitor(std::deque<WatchEvent>* queue) : queue_(queue) {}
  [[nodiscard]] int fd() const override { return -1; }
  std::vector<WatchEvent> receive() override {
    std::vector<WatchEvent> events(queue_->begin(), queue_->end());
    queue_->clear();
    return events;
  }

 private:
  std::deque<WatchEvent>* queue_;
};

detect::Snapshot snapshot_with(const std::vector<std::string>& live) {
  const detect::Catalog catalog = detect::Catalog::defaults();
  detect::Snapshot snapshot;
  for (const auto& spec : catalog.all()) {
    detect::ModuleStatus status;
    status.spec = spec;
    status.state = ModuleState::available;
    for (const auto& name : live) {
      if (name == spec.name) status.state = ModuleState::live;
    }
    snapshot.modules.push_back(status);
  }
  return snapshot;
}

class KernelWatchTest : public ::testing::Test {
 protected:
  KernelWatchTest() : watch_(config_, std::make_unique<FakeMonitor>(&queue_), [this] { return kernel_; }) {}

  void event(std::string name, WatchAction action, WatchSubsystem subsystem = WatchSubsystem::module) {
    queue_.push_back(WatchEvent{subsystem, action, std::move(name)});
  }
  std::chrono::steady_clock::time_point now() { return now_ += std::chrono::seconds(1); }

  config::Config config_ = config::default_config();
  std::deque<WatchEvent> queue_;
  detect::Snapshot kernel_ = snapshot_with({"af_key", "esp4", "ah4"});
  KernelWatch watch_;
  std::chrono::steady_clock::time_point now_{};
};

TEST_F(KernelWatchTest, ModulesLoadedByStackmgrsOwnPrepareAreNotOutOfBand) {
  event("af_key", WatchAction::add);
  event("esp4", WatchAction::add);
  EXPECT_FALSE(watch_.receive("preparing-stack").has_value());
  EXPECT_TRUE(watch_.reconcile_due(Stack::native));
  const Reaction reaction = watch_.reconcile(Stack::native, "start", now());
  EXPECT_EQ(reaction.kind, ReactionKind::none);
  EXPECT_FALSE(watch_.reconcile_due(Stack::native));
  const auto status = watch_.status();
  EXPECT_EQ(status["state"], "ok");
  ASSERT_EQ(status["events"].size(), 1U);
  EXPECT_EQ(status["events"][0]["reaction"], "baseline");
  EXPECT_NE(status["events"][0]["events"].get<std::string>().find("own: module af_key added"),
            std::string::npos);
}

TEST_F(KernelWatchTest, EventsStillQueuedAfterAnOwnChangeAreDrainedAsOwn) {
  watch_.reconcile(Stack::native, "start", now());
  watch_.mark_own_change();
  event("esp4", WatchAction::remove);  // stackmgr's own reload removed and loaded it
  event("esp4", WatchAction::add);
  EXPECT_EQ(watch_.reconcile(Stack::native, "the reload", now()).kind, ReactionKind::none);
  EXPECT_FALSE(watch_.receive("running").has_value()) << "the queue was drained by the reconciliation";
}

TEST_F(KernelWatchTest, AnOutOfBandRemovalIsReloadedThenTheKernelAgreesAgain) {
  watch_.reconcile(Stack::native, "start", now());
  kernel_ = snapshot_with({"af_key", "ah4"});
  event("esp4", WatchAction::remove);
  const auto first = watch_.receive("running");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->name, "esp4");
  const Reaction reaction = watch_.check(Stack::native, now());
  EXPECT_EQ(reaction.kind, ReactionKind::reload);
  EXPECT_EQ(watch_.status()["state"], "degraded");
  EXPECT_NE(watch_.degraded().find("esp4"), std::string::npos);

  kernel_ = snapshot_with({"af_key", "esp4", "ah4"});  // the reload put it back
  watch_.performed(reaction, true, "loaded esp4");
  EXPECT_EQ(watch_.reconcile(Stack::native, "the reload", now()).kind, ReactionKind::none);
  const auto status = watch_.status();
  EXPECT_EQ(status["state"], "ok");
  EXPECT_EQ(status["reloads_in_window"], 1);
  const auto& events = status["events"];
  ASSERT_EQ(events.size(), 4U);
  EXPECT_EQ(events[1]["events"], "module esp4 removed");
  EXPECT_EQ(events[1]["reaction"], "reload");
  EXPECT_EQ(events[2]["reaction"], "done");
}

TEST_F(KernelWatchTest, AFailedReloadLeavesTheModuleMissingAndStatusDegraded) {
  watch_.reconcile(Stack::native, "start", now());
  kernel_ = snapshot_with({"af_key", "ah4"});
  event("esp4", WatchAction::remove);
  ASSERT_TRUE(watch_.receive("running").has_value());
  ASSERT_EQ(watch_.check(Stack::native, now()).kind, ReactionKind::reload);
  Reaction reload;
  reload.kind = ReactionKind::reload;
  watch_.performed(reload, false, "esp4: Operation not permitted");
  const Reaction after = watch_.reconcile(Stack::native, "the reload", now());
  EXPECT_EQ(after.kind, ReactionKind::reload) << "still missing after the failed reload";
  EXPECT_EQ(watch_.status()["state"], "degraded");
}

TEST_F(KernelWatchTest, UnrelatedEventsAreOnlyCounted) {
  watch_.reconcile(Stack::native, "start", now());
  event("dummy", WatchAction::add);
  event("dummy0", WatchAction::add, WatchSubsystem::net);
  EXPECT_FALSE(watch_.receive("running").has_value());
  EXPECT_FALSE(watch_.reconcile_due(Stack::native));
  const auto status = watch_.status();
  EXPECT_EQ(status["ignored_events"], 2);
  EXPECT_EQ(status["events"].size(), 1U) << "only the baseline";
}

TEST_F(KernelWatchTest, AnOtherStackModuleAppearingUnderKlipsIsAConflict) {
  kernel_ = snapshot_with({"ipsec"});
  kernel_.markers.guard_installed = true;
  watch_.reconcile(Stack::klips, "start", now());
  kernel_ = snapshot_with({"ipsec", "xfrm_user"});
  kernel_.markers.guard_installed = true;
  event("xfrm_user", WatchAction::add);
  ASSERT_TRUE(watch_.receive("running").has_value());
  const Reaction reaction = watch_.check(Stack::klips, now());
  EXPECT_EQ(reaction.kind, ReactionKind::stop_daemon);
  EXPECT_TRUE(reaction.conflict);
  const auto status = watch_.status();
  EXPECT_EQ(status["state"], "conflict");
  EXPECT_NE(status["reason"].get<std::string>().find("xfrm_user"), std::string::npos);
}

TEST_F(KernelWatchTest, AConflictThatAppearedDuringAnOwnChangeIsStillAConflict) {
  watch_.reconcile(Stack::native, "start", now());
  event("ipsec", WatchAction::add);
  EXPECT_FALSE(watch_.receive("switching").has_value());
  kernel_ = snapshot_with({"af_key", "esp4", "ah4", "ipsec"});
  const Reaction reaction = watch_.reconcile(Stack::native, "a switch", now());
  EXPECT_EQ(reaction.kind, ReactionKind::stop_daemon);
  EXPECT_TRUE(reaction.conflict);
}

TEST_F(KernelWatchTest, ASwitchToTheOtherStackTakesANewBaseline) {
  watch_.reconcile(Stack::native, "start", now());
  kernel_ = snapshot_with({"ipsec"});
  EXPECT_TRUE(watch_.reconcile_due(Stack::klips));
  EXPECT_EQ(watch_.reconcile(Stack::klips, "the switch", now()).kind, ReactionKind::none);
  kernel_ = snapshot_with({});
  event("ipsec", WatchAction::remove);
  ASSERT_TRUE(watch_.receive("running").has_value());
  EXPECT_EQ(watch_.check(Stack::klips, now()).kind, ReactionKind::reload);
}

TEST(KernelWatchExternal, ExternalModeNeverReloads) {
  config::Config config = config::default_config();
  config.module_mode = config::ModuleMode::external;
  std::deque<WatchEvent> queue;
  detect::Snapshot kernel = snapshot_with({"af_key", "esp4"});
  KernelWatch watch(config, std::make_unique<FakeMonitor>(&queue), [&kernel] { return kernel; });
  watch.reconcile(Stack::native, "start", {});
  kernel = snapshot_with({"af_key"});
  queue.push_back({WatchSubsystem::module, WatchAction::remove, "esp4"});
  ASSERT_TRUE(watch.receive("running").has_value());
  EXPECT_EQ(watch.check(Stack::native, {}).kind, ReactionKind::report);
  EXPECT_EQ(watch.status()["config"]["on_missing"], "report");
}

}  // namespace
}  // namespace stackmgr::watch
