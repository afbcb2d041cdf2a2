// Recovery from an interrupted switch: stackmgr is "killed" (an exception out of the executor's
// observer leaves the kernel and the journal exactly as a SIGKILL would) at every step boundary
// of both directions, forward and during a rollback; recovery must always end on one fully live
// stack, consistent with the stack the next `start` would run the daemon on.
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>

#include "stackmgr/config/chosen_stack_file.hpp"
#include "stackmgr/switch/recovery.hpp"
#include "tests/modules/temp_dir.hpp"
#include "tests/modules/world.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_guard.hpp"

namespace stackmgr::switching {
namespace {

using detect::Stack;

struct Killed : std::runtime_error {
  Killed() : std::runtime_error("killed") {}
};

// Dies at boundary `kill_at`: boundary 2k is just before step k starts, 2k+1 just after it
// finished (its effect is in the kernel, the journal does not know yet).
class Killer final : public SwitchObserver {
 public:
  explicit Killer(int kill_at) : kill_at_(kill_at) {}
  void step_started(const modules::Step&, modules::Phase) override { boundary(); }
  void step_finished(const modules::StepRecord&) override { boundary(); }
  int boundaries = 0;

 private:
  void boundary() {
    if (boundaries++ == kill_at_) throw Killed();
  }
  int kill_at_;
};

struct Host {
  testworld::TempDir dir;
  testworld::World world;
  fake::FakeGuard guard;
  fake::FakeClock clock;
  SwitchEnvironment environment{world.kernel, guard, clock, [this] {
                                  world.facts.guard_installed = guard.is_set();
                                  return world.snapshot();
                                }};
  Host() {
    environment.lock_file = dir.path() / "run/lock";
    environment.module_record = dir.path() / "run/loaded-modules";
    environment.journal = dir.path() / "state/journal";
    environment.chosen_stack_file = dir.path() / "state/stack";
  }
  static SwitchRequest request(Stack target) {
    SwitchRequest request;
    request.target = target;
    request.policy.load_helpers = false;
    request.wait = os::LockWait::no_wait;
    return request;
  }
  SwitchResult switch_to(Stack target, SwitchObserver* observer = nullptr) {
    return switch_direct(request(target), environment, observer);
  }
  // The stack `start` would run the daemon on: the recorded choice, else the config's (here: from).
  Stack start_stack(Stack config_stack) const {
    const auto chosen = config::read_chosen_stack(environment.chosen_stack_file);
    return chosen && chosen->stack ? *chosen->stack : config_stack;
  }
};

enum class Fault { none, failing_last_insert };

struct Case {
  Stack from;
  Stack to;
  Fault fault;
};

std::string label(const Case& c) {
  return std::string(detect::to_string(c.from)) + "_to_" + std::string(detect::to_string(c.to)) +
         (c.fault == Fault::none ? "" : "_rollingBack");
}

// How many boundaries the switch of `c` has when nobody kills it.
int count_boundaries(const Case& c) {
  Host host;
  EXPECT_TRUE(host.switch_to(c.from).report.has_value());
  if (c.fault == Fault::failing_last_insert)
    host.world.kernel.fail_insert(c.to == Stack::klips ? "ipsec" : "ah4", EIO);
  Killer counter(-1);
  static_cast<void>(host.switch_to(c.to, &counter));
  return counter.boundaries;
}

class KilledSwitch : public ::testing::TestWithParam<Case> {};

TEST_P(KilledSwitch, RecoveryAlwaysEndsOnOneLiveStackConsistentWithTheNextStart) {
  const Case c = GetParam();
  const int boundaries = count_boundaries(c);
  ASSERT_GE(boundaries, 4) << "the switch should have a few steps to interrupt";
  for (int kill_at = 0; kill_at < boundaries; ++kill_at) {
    SCOPED_TRACE("killed at boundary " + std::to_string(kill_at) + " of " + std::to_string(boundaries));
    Host host;
    ASSERT_EQ(host.switch_to(c.from).report->outcome, modules::Outcome::done);
    std::filesystem::remove(host.environment.chosen_stack_file);  // the config chose `from`
    if (c.fault == Fault::failing_last_insert) {
      host.world.kernel.fail_insert(c.to == Stack::klips ? "ipsec" : "ah4", EIO);
    }
    Killer killer(kill_at);
    EXPECT_THROW(host.switch_to(c.to, &killer), Killed);
    ASSERT_TRUE(std::filesystem::exists(host.environment.journal)) << "the journal must outlive the kill";
    host.world.kernel.clear_faults();

    const RecoveryResult recovered = recover_interrupted_switch(Host::request(c.to), host.environment);
    ASSERT_TRUE(recovered.outcome == RecoveryOutcome::completed ||
                recovered.outcome == RecoveryOutcome::rolled_back)
        << recovered.message;
    EXPECT_FALSE(host.world.kernel.crashed()) << host.world.kernel.crash_reason();
    EXPECT_FALSE(std::filesystem::exists(host.environment.journal));
    ASSERT_TRUE(recovered.stack.has_value());
    const detect::Snapshot after = host.environment.detect();
    EXPECT_TRUE(stack_fully_live(after, *recovered.stack)) << detect::to_string(after.overall);
    EXPECT_EQ(host.guard.is_set(), *recovered.stack == Stack::klips);
    if (recovered.outcome == RecoveryOutcome::completed) {
      EXPECT_EQ(*recovered.stack, c.to);
      EXPECT_NE(recovered.message.find("completed"), std::string::npos) << recovered.message;
    } else {
      EXPECT_EQ(*recovered.stack, c.from);
      EXPECT_NE(recovered.message.find("rolled back"), std::string::npos) << recovered.message;
    }
    // The daemon of the next start runs on the stack the kernel has, and only that one.
    EXPECT_EQ(host.start_stack(c.from), *recovered.stack);
    // A second recovery has nothing left to do.
    EXPECT_EQ(recover_interrupted_switch(Host::request(c.to), host.environment).outcome,
              RecoveryOutcome::nothing);
  }
}

INSTANTIATE_TEST_SUITE_P(BothDirections, KilledSwitch,
                         ::testing::Values(Case{Stack::native, Stack::klips, Fault::none},
                                           Case{Stack::klips, Stack::native, Fault::none},
                                           Case{Stack::native, Stack::klips, Fault::failing_last_insert},
                                           Case{Stack::klips, Stack::native, Fault::failing_last_insert}),
                         [](const auto& param_info) { return label(param_info.param); });

TEST(SwitchRecovery, NoJournalMeansNothingToDo) {
  Host host;
  const RecoveryResult recovered = recover_interrupted_switch(Host::request(Stack::klips), host.environment);
  EXPECT_EQ(recovered.outcome, RecoveryOutcome::nothing);
  EXPECT_EQ(host.world.kernel.insert_calls(), 0);
}

TEST(SwitchRecovery, ACompletedSwitchRecordsTheNewStackForTheNextStart) {
  Host host;
  ASSERT_EQ(host.switch_to(Stack::native).report->outcome, modules::Outcome::done);
  std::filesystem::remove(host.environment.chosen_stack_file);
  // As if killed after the last module step, before the journal went away.
  ASSERT_EQ(host.switch_to(Stack::klips).report->outcome, modules::Outcome::done);
  SwitchJournal journal;
  journal.from = Stack::native;
  journal.to = Stack::klips;
  journal.steps = {{"remove esp4", true}, {"insert ipsec", true}, {"set_guard", false}};
  ASSERT_TRUE(write_journal(host.environment.journal, journal).ok());
  std::filesystem::remove(host.environment.chosen_stack_file);
  const RecoveryResult recovered = recover_interrupted_switch(Host::request(Stack::klips), host.environment);
  EXPECT_EQ(recovered.outcome, RecoveryOutcome::completed) << recovered.message;
  EXPECT_EQ(host.start_stack(Stack::native), Stack::klips);
}

TEST(SwitchRecovery, ACorruptJournalIsMovedAsideAndTheKernelIsNotTouched) {
  Host host;
  ASSERT_EQ(host.switch_to(Stack::native).report->outcome, modules::Outcome::done);
  std::filesystem::create_directories(host.environment.journal.parent_path());
  {
    std::ofstream out(host.environment.journal);
    out << R"({"version":1,"from":"native","to":"kl)";
  }
  const int inserts = host.world.kernel.insert_calls();
  const RecoveryResult recovered = recover_interrupted_switch(Host::request(Stack::klips), host.environment);
  EXPECT_EQ(recovered.outcome, RecoveryOutcome::unusable_journal);
  EXPECT_NE(recovered.message.find("not guessing"), std::string::npos) << recovered.message;
  EXPECT_NE(recovered.message.find("moved it aside"), std::string::npos) << recovered.message;
  EXPECT_EQ(recovered.stack, Stack::native);
  EXPECT_EQ(host.world.kernel.insert_calls(), inserts);
  EXPECT_FALSE(std::filesystem::exists(host.environment.journal));
}

TEST(SwitchRecovery, ARecoveryThatCannotFinishKeepsTheJournalAndSaysWhatToDo) {
  Host host;
  ASSERT_EQ(host.switch_to(Stack::native).report->outcome, modules::Outcome::done);
  Killer killer(6);  // after ah4 and esp4 went, before af_key
  EXPECT_THROW(host.switch_to(Stack::klips, &killer), Killed);
  for (const char* name : {"af_key", "esp4", "ah4"}) {
    host.world.kernel.set_blacklisted(name);  // the rollback to native cannot load them now
  }
  const RecoveryResult recovered = recover_interrupted_switch(Host::request(Stack::klips), host.environment);
  EXPECT_EQ(recovered.outcome, RecoveryOutcome::failed) << recovered.message;
  EXPECT_NE(recovered.message.find("stackmgr switch"), std::string::npos) << recovered.message;
  EXPECT_NE(recovered.message.find("it changed nothing in the kernel"), std::string::npos)
      << "refused by the planner: " << recovered.message;
  EXPECT_TRUE(std::filesystem::exists(host.environment.journal));
  EXPECT_FALSE(host.world.kernel.crashed());
}

// Killed after ah4 and esp4 went on the way from native to KLIPS: the recovery rolls back to
// native, loading esp4 then ah4.
RecoveryResult recover_native_with(Host& host, const std::function<void(fake::FakeKernel&)>& faults) {
  EXPECT_EQ(host.switch_to(Stack::native).report->outcome, modules::Outcome::done);
  Killer killer(6);
  EXPECT_THROW(host.switch_to(Stack::klips, &killer), Killed);
  faults(host.world.kernel);
  return recover_interrupted_switch(Host::request(Stack::klips), host.environment);
}

TEST(SwitchRecovery, AFailedRecoveryWhoseRollbackWorkedSaysSoAndWhatTheKernelHas) {
  Host host;
  const RecoveryResult recovered =
      recover_native_with(host, [](fake::FakeKernel& kernel) { kernel.fail_insert("ah4", EIO); });
  ASSERT_EQ(recovered.outcome, RecoveryOutcome::failed) << recovered.message;
  EXPECT_NE(recovered.message.find("what it had changed was put back; the kernel now has "),
            std::string::npos)
      << recovered.message;
  EXPECT_EQ(recovered.message.find("nothing unsafe"), std::string::npos)
      << "not checked: " << recovered.message;
}

TEST(SwitchRecovery, AFailedRecoveryWhoseRollbackFailedDoesNotClaimTheKernelIsSafe) {
  Host host;
  const RecoveryResult recovered = recover_native_with(host, [](fake::FakeKernel& kernel) {
    kernel.fail_insert("ah4", EIO);
    kernel.fail_remove("esp4", EBUSY);  // the rollback cannot take esp4 out again
  });
  ASSERT_EQ(recovered.outcome, RecoveryOutcome::failed) << recovered.message;
  ASSERT_TRUE(recovered.switched && recovered.switched->report);
  EXPECT_EQ(recovered.switched->report->outcome, modules::Outcome::rollback_failed);
  EXPECT_NE(recovered.message.find("its rollback failed too"), std::string::npos) << recovered.message;
  EXPECT_NE(recovered.message.find("the kernel now has "), std::string::npos) << recovered.message;
  EXPECT_EQ(recovered.message.find("nothing unsafe"), std::string::npos) << recovered.message;
  EXPECT_EQ(recovered.message.find("changed nothing"), std::string::npos) << recovered.message;
}

}  // namespace
}  // namespace stackmgr::switching
