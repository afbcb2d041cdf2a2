// The executor against the fake kernel: verification, the re-check before every insert,
// busy modules, bounded waits, and rollback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <functional>
#include <string>
#include <vector>

#include "modules/executor.hpp"
#include "modules/planner.hpp"
#include "tests/modules/world.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_guard.hpp"

namespace {

using detect::Stack;
using modules::ExecutionReport;
using modules::Outcome;
using modules::Phase;
using modules::Plan;
using modules::Policy;
using modules::StepKind;
using modules::StepStatus;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

class RecordingObserver final : public modules::StepObserver {
 public:
  void step_started(const modules::Step& step, Phase phase) override {
    events.push_back("start " + describe(step, phase));
  }
  void step_finished(const modules::StepRecord& record) override {
    events.push_back(std::string(modules::to_string(record.status)) + " " +
                     describe(record.step, record.phase));
  }
  std::vector<std::string> events;

 private:
  static std::string describe(const modules::Step& step, Phase phase) {
    std::string text(modules::to_string(step.kind));
    if (!step.module.empty()) text += " " + step.module;
    if (phase == Phase::rollback) text += " (rollback)";
    return text;
  }
};

class FakeHolders final : public modules::ProcessHolderLookup {
 public:
  [[nodiscard]] std::vector<modules::ProcessHolder> holders_of(std::string_view module) const override {
    if (module != "af_key") return {};
    return holders;
  }
  std::vector<modules::ProcessHolder> holders;
};

struct Harness {
  testworld::World world;
  fake::FakeGuard guard;
  fake::FakeClock clock;
  RecordingObserver observer;
  FakeHolders holders;
  std::function<void(int)> on_redetect;  // called with the redetect count, before reading
  int redetects = 0;
  std::function<bool()> stop_requested;
  bool separate_recheck = false;        // give the executor a recheck of its own, counted apart
  std::function<void(int)> on_recheck;  // called with the recheck count, before reading
  int rechecks = 0;

  detect::Snapshot snapshot() {
    world.facts.guard_installed = guard.is_set();
    return world.snapshot();
  }

  Plan plan(Stack target, const Policy& policy = {}) {
    auto result = modules::plan_switch(snapshot(), target, policy);
    if (auto* refusal = std::get_if<modules::Refusal>(&result)) {
      ADD_FAILURE() << "unexpected refusal: " << refusal->message;
      return {};
    }
    return std::get<Plan>(result);
  }

  ExecutionReport run(const Plan& plan) {
    modules::ExecutorContext context{world.kernel, guard, clock, [this] {
                                       ++redetects;
                                       if (on_redetect) on_redetect(redetects);
                                       return snapshot();
                                     }};
    if (separate_recheck) {
      context.recheck = [this] {
        ++rechecks;
        if (on_recheck) on_recheck(rechecks);
        return snapshot();
      };
    }
    context.holders = &holders;
    context.observer = &observer;
    context.stop_requested = stop_requested;
    return modules::execute(plan, context);
  }
};

Policy no_helpers() {
  Policy policy;
  policy.load_helpers = false;
  return policy;
}

const modules::StepRecord* first_failed(const ExecutionReport& report) {
  for (const auto& record : report.records) {
    if (!record.succeeded()) return &record;
  }
  return nullptr;
}

TEST(Executor, SwitchToNativeLoadsVerifiesAndReportsWhatItLoaded) {
  Harness harness;
  const ExecutionReport report = harness.run(harness.plan(Stack::native, no_helpers()));
  EXPECT_EQ(report.outcome, Outcome::done);
  EXPECT_FALSE(harness.world.kernel.crashed());
  EXPECT_THAT(report.loaded, UnorderedElementsAre("af_key", "esp4", "ah4", "xfrm_algo"));
  EXPECT_THAT(report.unloaded, IsEmpty());
  for (const auto& record : report.records) EXPECT_EQ(record.detail, "live (verified)");
  EXPECT_EQ(report.final.native.verdict, detect::Verdict::active);
  EXPECT_THAT(harness.observer.events,
              ElementsAre("start insert af_key", "ok insert af_key", "start insert esp4", "ok insert esp4",
                          "start insert ah4", "ok insert ah4"));
}

TEST(Executor, AStopBetweenStepsRollsBackWhatTheRunDidAndNeverCutsAStepShort) {
  Harness harness;
  // Asked before each plan step: the first two go ahead, the third finds the stop.
  int asked = 0;
  harness.stop_requested = [&asked] { return ++asked > 2; };
  const ExecutionReport report = harness.run(harness.plan(Stack::native, no_helpers()));
  EXPECT_EQ(report.outcome, Outcome::rolled_back);
  ASSERT_TRUE(report.failure.has_value());
  EXPECT_EQ(report.failure->code, ECANCELED);
  EXPECT_EQ(report.failure->message, "a stop was requested before 'insert ah4'");
  EXPECT_THAT(harness.observer.events,
              ElementsAre("start insert af_key", "ok insert af_key", "start insert esp4", "ok insert esp4",
                          "start remove esp4 (rollback)", "ok remove esp4 (rollback)",
                          "start remove af_key (rollback)", "ok remove af_key (rollback)",
                          "start remove xfrm_algo (rollback)", "ok remove xfrm_algo (rollback)"));
  EXPECT_FALSE(harness.world.kernel.is_loaded("af_key"));
  EXPECT_FALSE(harness.world.kernel.is_loaded("esp4"));
  EXPECT_THAT(report.loaded, IsEmpty());
  EXPECT_FALSE(harness.world.kernel.crashed());
}

TEST(Executor, AStopBeforeTheFirstStepChangesNothing) {
  Harness harness;
  harness.world.load({"af_key", "esp4", "ah4"});
  harness.stop_requested = [] { return true; };
  const ExecutionReport report = harness.run(harness.plan(Stack::klips));
  EXPECT_EQ(report.outcome, Outcome::rolled_back);
  EXPECT_THAT(harness.observer.events, IsEmpty());
  EXPECT_TRUE(harness.world.kernel.is_loaded("af_key"));
  EXPECT_FALSE(harness.world.kernel.is_loaded("ipsec"));
  EXPECT_FALSE(harness.guard.is_set());
}

TEST(Executor, SwitchNativeToKlipsAndBack) {
  Harness harness;
  harness.world.load({"af_key", "esp4", "ah4", "xfrm_user"});
  ExecutionReport report = harness.run(harness.plan(Stack::klips));
  ASSERT_EQ(report.outcome, Outcome::done);
  EXPECT_TRUE(harness.guard.is_set());
  EXPECT_THAT(report.unloaded, UnorderedElementsAre("af_key", "esp4", "ah4", "xfrm_user"));
  EXPECT_TRUE(harness.world.kernel.is_loaded("ipsec"));
  EXPECT_TRUE(harness.world.kernel.is_loaded("xfrm_algo"));  // not ours: left alone

  report = harness.run(harness.plan(Stack::native, no_helpers()));
  ASSERT_EQ(report.outcome, Outcome::done);
  EXPECT_FALSE(harness.guard.is_set());
  EXPECT_FALSE(harness.world.kernel.is_loaded("ipsec"));
  EXPECT_TRUE(harness.world.kernel.is_loaded("af_key"));
  EXPECT_FALSE(harness.world.kernel.crashed());
}

TEST(Executor, AnEmptyPlanIsAlreadyThereAndTouchesNothing) {
  Harness harness;
  harness.world.load({"ipsec", "ipsec_aes", "ipsec_sha2", "ipsec_blowfish"});
  harness.guard.set();
  const int calls = harness.world.kernel.insert_calls();
  const ExecutionReport report = harness.run(harness.plan(Stack::klips));
  EXPECT_EQ(report.outcome, Outcome::already_there);
  EXPECT_THAT(report.records, IsEmpty());
  EXPECT_EQ(harness.world.kernel.insert_calls(), calls);
}

TEST(Executor, ReChecksBeforeEveryInsertAndRefusesWhenAfKeyAppearsOutOfBand) {
  // The fresh state comes from redetect, or from a recheck of its own when the context has one.
  for (const bool separate_recheck : {false, true}) {
    SCOPED_TRACE(separate_recheck ? "with a recheck" : "with redetect only");
    Harness harness;
    harness.separate_recheck = separate_recheck;
    const Plan plan = harness.plan(Stack::klips);  // set_guard, insert ipsec, ...
    // Between the plan and the insert, something autoloads af_key (the guard was not there yet
    // when it opened its PF_KEY socket).
    (separate_recheck ? harness.on_recheck : harness.on_redetect) = [&](int count) {
      if (count == 1) harness.world.load({"af_key"});
    };
    const ExecutionReport report = harness.run(plan);
    EXPECT_FALSE(harness.world.kernel.crashed()) << harness.world.kernel.crash_reason();
    EXPECT_EQ(report.outcome, Outcome::refused);
    ASSERT_TRUE(report.refusal.has_value());
    EXPECT_EQ(report.refusal->rule, modules::Rule::klips_over_native);
    EXPECT_FALSE(harness.world.kernel.is_loaded("ipsec"));
    // The guard this run set is gone again: the host is where it was (plus the intruder).
    EXPECT_FALSE(harness.guard.is_set());
    const auto* refused = first_failed(report);
    ASSERT_NE(refused, nullptr);
    EXPECT_EQ(refused->status, StepStatus::refused);
    EXPECT_THAT(refused->detail,
                AllOf(HasSubstr("re-checked on fresh state"), HasSubstr("af_key is loaded")));
  }
}

TEST(Executor, ChecksEveryInsertOnTheRecheckAndTheEndOnAFullDetection) {
  Harness harness;
  harness.separate_recheck = true;
  const Plan plan = harness.plan(Stack::native, no_helpers());
  int inserts = 0;
  for (const auto& step : plan.steps) inserts += step.kind == StepKind::insert ? 1 : 0;
  ASSERT_GT(inserts, 1);
  const ExecutionReport report = harness.run(plan);
  EXPECT_EQ(report.outcome, Outcome::done);
  EXPECT_EQ(harness.rechecks, inserts);
  EXPECT_EQ(harness.redetects, 1);  // the final state only
}

TEST(Executor, AfterUnloadingNativeARefusedKlipsLoadRollsBackToNative) {
  Harness harness;
  harness.world.load({"af_key", "esp4", "ah4"});
  const Plan plan = harness.plan(Stack::klips, no_helpers());
  harness.on_redetect = [&](int count) {
    if (count == 1) harness.world.load({"xfrm_user"});  // out of band, just before the KLIPS insert
  };
  const ExecutionReport report = harness.run(plan);
  EXPECT_FALSE(harness.world.kernel.crashed()) << harness.world.kernel.crash_reason();
  EXPECT_EQ(report.outcome, Outcome::refused);
  for (const char* name : {"af_key", "esp4", "ah4"})
    EXPECT_TRUE(harness.world.kernel.is_loaded(name)) << name;
  EXPECT_FALSE(harness.guard.is_set());
}

TEST(Executor, NeverLoadsAnythingUnsafeDuringRollback) {
  Harness harness;
  harness.world.load({"af_key", "esp4", "ah4"});
  const Plan plan = harness.plan(Stack::klips, no_helpers());
  harness.world.kernel.fail_insert("ipsec", EIO);
  // While the rollback runs, someone loads KLIPS (safe at that moment: no native module is in).
  harness.on_redetect = [&](int count) {
    if (count != 2) return;
    harness.world.kernel.clear_faults();
    harness.world.load({"ipsec"});
  };
  const ExecutionReport report = harness.run(plan);
  EXPECT_FALSE(harness.world.kernel.crashed()) << harness.world.kernel.crash_reason();
  EXPECT_EQ(report.outcome, Outcome::rollback_failed);
  // Every native reload was refused on fresh state, not attempted.
  for (const auto& record : report.records) {
    if (record.phase == Phase::rollback && record.step.kind == StepKind::insert) {
      EXPECT_EQ(record.status, StepStatus::refused) << record.step.module;
    }
  }
  // The guard stays while KLIPS is in the kernel.
  EXPECT_TRUE(harness.guard.is_set());
}

TEST(Executor, ASilentInsertFailureIsCaughtByVerification) {
  Harness harness;
  harness.world.kernel.fail_insert_silently("ipsec");
  const ExecutionReport report = harness.run(harness.plan(Stack::klips));
  EXPECT_EQ(report.outcome, Outcome::rolled_back);
  ASSERT_TRUE(report.failure.has_value());
  EXPECT_THAT(
      report.failure->message,
      HasSubstr("the kernel did not load ipsec although the load call reported success: likely the PF_KEY "
                "-EEXIST conflict"));
  EXPECT_FALSE(harness.guard.is_set());
}

TEST(Executor, WaitsForAComingModuleWithinTheBound) {
  Harness harness;
  harness.world.kernel.stay_coming("esp4", 5);
  const ExecutionReport report = harness.run(harness.plan(Stack::native, no_helpers()));
  EXPECT_EQ(report.outcome, Outcome::done);
  EXPECT_GT(harness.clock.slept(), std::chrono::milliseconds(0));
}

TEST(Executor, AModuleStuckComingBeyondTheBoundFailsAndIsRolledBackOnceItSettles) {
  Harness harness;
  // About 600 polls: past the 10 s bound of the insert, then live during the rollback's wait.
  harness.world.kernel.stay_coming("esp4", 600);
  const ExecutionReport report = harness.run(harness.plan(Stack::native, no_helpers()));
  EXPECT_EQ(report.outcome, Outcome::rolled_back);
  EXPECT_THAT(report.failure->message, HasSubstr("esp4 is still loading (coming) after 10 s"));
  EXPECT_THAT(harness.world.kernel.loaded_names(), IsEmpty());
}

TEST(Executor, AModuleStuckComingForeverIsARollbackFailureAndNoUnsafeLoad) {
  Harness harness;
  harness.world.load({"af_key", "esp4", "ah4"});
  harness.world.kernel.stay_coming("ipsec", 1'000'000);
  const ExecutionReport report = harness.run(harness.plan(Stack::klips, no_helpers()));
  EXPECT_FALSE(harness.world.kernel.crashed()) << harness.world.kernel.crash_reason();
  EXPECT_EQ(report.outcome, Outcome::rollback_failed);
  EXPECT_THAT(report.notes, Contains(HasSubstr("the start state was not restored")));
  EXPECT_TRUE(harness.guard.is_set());
}

TEST(Executor, ABusyAfKeyNamesTheProcessAndRollsBack) {
  Harness harness;
  harness.world.load({"af_key", "esp4", "ah4"});
  const Plan plan = harness.plan(Stack::klips, no_helpers());
  // After planning, pluto opens a PF_KEY socket.
  harness.world.kernel.hold("af_key");
  harness.holders.holders = {{345, "pluto", "a PF_KEY socket"}};
  const ExecutionReport report = harness.run(plan);
  EXPECT_EQ(report.outcome, Outcome::rolled_back);
  ASSERT_TRUE(report.failure.has_value());
  EXPECT_THAT(report.failure->message,
              AllOf(HasSubstr("busy: af_key is in use (held by pid 345 (pluto) through a PF_KEY socket)"),
                    HasSubstr("stackmgr stop")));
  for (const char* name : {"af_key", "esp4", "ah4"})
    EXPECT_TRUE(harness.world.kernel.is_loaded(name)) << name;
  EXPECT_FALSE(harness.guard.is_set());
  EXPECT_THAT(report.loaded, IsEmpty());
  EXPECT_THAT(report.unloaded, IsEmpty());
}

TEST(Executor, ABusyModuleWithoutAKnownProcessSaysWhatHoldsIt) {
  Harness harness;
  harness.world.load({"af_key", "esp4", "ah4"});
  const Plan plan = harness.plan(Stack::klips, no_helpers());
  harness.world.kernel.hold("esp4");  // an SA
  const ExecutionReport report = harness.run(plan);
  EXPECT_EQ(report.outcome, Outcome::rolled_back);
  EXPECT_THAT(report.failure->message, HasSubstr("busy: esp4 is in use (1 reference from outside"));
}

TEST(Executor, ARemoveErrorRollsBack) {
  Harness harness;
  harness.world.load({"ipsec", "ipsec_aes"});
  harness.guard.set();
  const Plan plan = harness.plan(Stack::native, no_helpers());
  harness.world.kernel.fail_remove("ipsec", EIO);
  const ExecutionReport report = harness.run(plan);
  EXPECT_EQ(report.outcome, Outcome::rolled_back);
  EXPECT_TRUE(harness.world.kernel.is_loaded("ipsec_aes"));
  EXPECT_TRUE(harness.guard.is_set());
  EXPECT_THAT(harness.observer.events, Contains("ok insert ipsec_aes (rollback)"));
}

TEST(Executor, AModuleStuckGoingIsABoundedFailure) {
  Harness harness;
  harness.world.load({"ipsec"});
  harness.guard.set();
  const Plan plan = harness.plan(Stack::native, no_helpers());
  harness.world.kernel.stay_going("ipsec", 1'000'000);
  const ExecutionReport report = harness.run(plan);
  EXPECT_FALSE(harness.world.kernel.crashed());
  EXPECT_EQ(report.outcome, Outcome::rollback_failed);
  EXPECT_THAT(report.failure->message, HasSubstr("ipsec is still unloading after 10 s"));
  // No native module was loaded over the half-gone KLIPS.
  EXPECT_FALSE(harness.world.kernel.is_loaded("af_key"));
}

TEST(Executor, AGuardFailureStopsBeforeAnyModuleChanges) {
  Harness harness;
  harness.world.load({"af_key", "esp4", "ah4"});
  harness.guard.fail_set();
  const int removes = harness.world.kernel.remove_calls();
  const ExecutionReport report = harness.run(harness.plan(Stack::klips));
  EXPECT_EQ(report.outcome, Outcome::rolled_back);
  EXPECT_THAT(report.failure->message, HasSubstr("installing the autoload guard failed"));
  EXPECT_EQ(harness.world.kernel.remove_calls(), removes);
}

TEST(Executor, AFailedInsertRemovesTheDependenciesItPulledIn) {
  Harness harness;
  harness.world.kernel.fail_insert("esp4", ENOMEM);
  const ExecutionReport report = harness.run(harness.plan(Stack::native, no_helpers()));
  EXPECT_EQ(report.outcome, Outcome::rolled_back);
  EXPECT_THAT(report.failure->message, HasSubstr("loading esp4 failed"));
  EXPECT_THAT(harness.world.kernel.loaded_names(), IsEmpty());
  EXPECT_THAT(harness.observer.events, Contains("ok remove xfrm_algo (rollback)"));
}

TEST(Executor, ADependencyStillInUseIsKeptNotFailed) {
  Harness harness;
  harness.world.kernel.add_module("someone_else", detect::DiskState::available, {"xfrm_algo"});
  harness.world.load({"af_key", "esp4", "ah4", "someone_else"});
  Policy policy = no_helpers();
  policy.loaded_by_us = {"af_key", "esp4", "ah4", "xfrm_algo"};
  const ExecutionReport report = harness.run(harness.plan(Stack::klips, policy));
  EXPECT_EQ(report.outcome, Outcome::done);
  EXPECT_TRUE(harness.world.kernel.is_loaded("xfrm_algo"));
  EXPECT_THAT(harness.observer.events, Contains("skipped remove xfrm_algo"));
}

TEST(Executor, ADependencyStackmgrLoadedIsUnloadedAndReloadedOnRollback) {
  Harness harness;
  harness.world.load({"af_key", "esp4", "ah4"});
  Policy policy = no_helpers();
  policy.loaded_by_us = {"af_key", "esp4", "ah4", "xfrm_algo"};
  const Plan plan = harness.plan(Stack::klips, policy);
  harness.world.kernel.fail_insert("ipsec", EIO);
  const ExecutionReport report = harness.run(plan);
  EXPECT_EQ(report.outcome, Outcome::rolled_back);
  EXPECT_THAT(harness.world.kernel.loaded_names(),
              UnorderedElementsAre("af_key", "esp4", "ah4", "xfrm_algo"));
}

TEST(Executor, RequiresARedetectCallback) {
  Harness harness;
  modules::ExecutorContext context{harness.world.kernel, harness.guard, harness.clock, nullptr};
  EXPECT_THROW(modules::execute(harness.plan(Stack::native), context), std::invalid_argument);
}

TEST(Executor, RecordsCarryDurationsFromTheClock) {
  Harness harness;
  harness.world.kernel.stay_coming("af_key", 3);
  const ExecutionReport report = harness.run(harness.plan(Stack::native, no_helpers()));
  ASSERT_FALSE(report.records.empty());
  // All the waiting happened in the first step, and its record says how long it took.
  EXPECT_GT(harness.clock.slept(), std::chrono::milliseconds(0));
  EXPECT_EQ(report.records.front().took, harness.clock.slept());
}

}  // namespace
