// The direct switch end to end against the fake kernel: lock, detect, plan, execute, record,
// and the exit code of each outcome.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "detect/detector.hpp"
#include "modules/guard_file.hpp"
#include "stackmgr/switch/switch_direct.hpp"
#include "tests/modules/temp_dir.hpp"
#include "tests/modules/world.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_guard.hpp"

namespace stackmgr::switching {
namespace {

using detect::Stack;
using stackmgr::base::Exit;
using stackmgr::switching::ModuleRecord;
using stackmgr::switching::SwitchResult;
using stackmgr::switching::SwitchStatus;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class Recorder final : public stackmgr::switching::SwitchObserver {
 public:
  void planned(const modules::Plan& plan) override {
    events.push_back("planned " + std::to_string(plan.steps.size()));
  }
  void step_finished(const modules::StepRecord& record) override {
    events.push_back(std::string(modules::to_string(record.status)) + " " + record.step.module);
  }
  std::vector<std::string> events;
};

struct Host {
  testworld::TempDir run;
  testworld::World world;
  fake::FakeGuard guard;
  fake::FakeClock clock;
  stackmgr::switching::SwitchEnvironment environment{world.kernel, guard, clock, [this] {
                                                       world.facts.guard_installed = guard.is_set();
                                                       return world.snapshot();
                                                     }};
  Host() {
    environment.lock_file = run.path() / "run/stackmgr/lock";
    environment.module_record = run.path() / "run/stackmgr/loaded-modules";
  }

  switching::SwitchResult switch_to(Stack target, Recorder* observer = nullptr) {
    stackmgr::switching::SwitchRequest request;
    request.target = target;
    request.policy.load_helpers = false;
    request.wait = stackmgr::os::LockWait::no_wait;
    return stackmgr::switching::switch_direct(request, environment, observer);
  }

  std::set<std::string> recorded() const {
    const auto record = switching::ModuleRecord::load(environment.module_record);
    EXPECT_TRUE(record.ok());
    return record ? record->modules() : std::set<std::string>{};
  }
};

TEST(SwitchDirect, DoneRecordsWhatItLoadedAndExitsZero) {
  Host host;
  Recorder observer;
  const switching::SwitchResult result = host.switch_to(Stack::native, &observer);
  ASSERT_EQ(result.status, switching::SwitchStatus::executed);
  EXPECT_EQ(result.report->outcome, modules::Outcome::done);
  EXPECT_EQ(stackmgr::switching::exit_for(result), base::Exit::ok);
  EXPECT_EQ(host.recorded(), (std::set<std::string>{"af_key", "esp4", "ah4", "xfrm_algo"}));
  EXPECT_THAT(observer.events, ElementsAre("planned 3", "ok af_key", "ok esp4", "ok ah4"));
}

TEST(SwitchDirect, TheRecordLetsTheNextSwitchCleanUpDependenciesItLoaded) {
  Host host;
  ASSERT_EQ(host.switch_to(Stack::native).report->outcome, modules::Outcome::done);
  const switching::SwitchResult result = host.switch_to(Stack::klips);
  ASSERT_EQ(result.report->outcome, modules::Outcome::done);
  EXPECT_FALSE(host.world.kernel.is_loaded("xfrm_algo"));
  EXPECT_EQ(host.recorded(), (std::set<std::string>{"ipsec"}));
  EXPECT_TRUE(host.guard.is_set());
}

TEST(SwitchDirect, ModulesSomeoneElseLoadedAreNeitherRecordedNorCleanedUp) {
  Host host;
  host.world.load({"af_key", "esp4", "ah4"});
  ASSERT_EQ(host.switch_to(Stack::klips).report->outcome, modules::Outcome::done);
  EXPECT_TRUE(host.world.kernel.is_loaded("xfrm_algo"));
  EXPECT_EQ(host.recorded(), (std::set<std::string>{"ipsec"}));
}

TEST(SwitchDirect, AlreadyThereExitsZeroAndTouchesNothing) {
  Host host;
  host.world.load({"af_key", "esp4", "ah4"});
  const int inserts = host.world.kernel.insert_calls();
  const switching::SwitchResult result = host.switch_to(Stack::native);
  EXPECT_EQ(result.report->outcome, modules::Outcome::already_there);
  EXPECT_EQ(stackmgr::switching::exit_for(result), base::Exit::ok);
  EXPECT_EQ(host.world.kernel.insert_calls(), inserts);
}

TEST(SwitchDirect, APlanRefusalExitsThreeAndChangesNothing) {
  Host host;
  host.world.kernel.set_blacklisted("esp4");
  const switching::SwitchResult result = host.switch_to(Stack::native);
  EXPECT_EQ(result.status, switching::SwitchStatus::refused);
  EXPECT_EQ(result.refusal->rule, modules::Rule::blacklisted);
  EXPECT_EQ(stackmgr::switching::exit_for(result), base::Exit::refused);
  EXPECT_EQ(host.world.kernel.insert_calls(), 0);
  // The lock was released.
  EXPECT_TRUE(stackmgr::os::Lock::acquire(host.environment.lock_file, stackmgr::os::LockWait::no_wait,
                                          std::chrono::milliseconds(0))
                  .ok());
}

TEST(SwitchDirect, BusyWhileAnotherCallerHoldsTheLock) {
  Host host;
  auto held = stackmgr::os::Lock::acquire(host.environment.lock_file, stackmgr::os::LockWait::no_wait,
                                          std::chrono::milliseconds(0));
  ASSERT_TRUE(held.ok());
  const switching::SwitchResult result = host.switch_to(Stack::native);
  EXPECT_EQ(result.status, switching::SwitchStatus::busy);
  EXPECT_EQ(stackmgr::switching::exit_for(result), base::Exit::busy);
  EXPECT_THAT(result.error->message, HasSubstr("(pid " + std::to_string(::getpid()) + ")"));
  EXPECT_EQ(host.world.kernel.insert_calls(), 0);
}

TEST(SwitchDirect, AFailedStepRollsBackExitsFourAndLeavesTheRecordAlone) {
  Host host;
  host.world.load({"af_key", "esp4", "ah4"});
  host.world.kernel.fail_insert("ipsec", EIO);
  const switching::SwitchResult result = host.switch_to(Stack::klips);
  EXPECT_EQ(result.report->outcome, modules::Outcome::rolled_back);
  EXPECT_EQ(stackmgr::switching::exit_for(result), base::Exit::rolled_back);
  EXPECT_THAT(host.recorded(), IsEmpty());
  for (const char* name : {"af_key", "esp4", "ah4"}) EXPECT_TRUE(host.world.kernel.is_loaded(name));
}

TEST(SwitchDirect, AFailedRollbackExitsFive) {
  Host host;
  host.world.load({"af_key", "esp4", "ah4"});
  host.world.kernel.stay_coming("ipsec", 1'000'000);
  const switching::SwitchResult result = host.switch_to(Stack::klips);
  EXPECT_EQ(result.report->outcome, modules::Outcome::rollback_failed);
  EXPECT_EQ(stackmgr::switching::exit_for(result), base::Exit::rollback_failed);
  EXPECT_FALSE(host.world.kernel.crashed());
  // ipsec is stuck in the kernel and this run put it there: the record says so.
  EXPECT_THAT(host.recorded(), Contains("ipsec"));
}

TEST(SwitchDirect, ExternalModuleModeRefusesAnyChange) {
  Host host;
  stackmgr::switching::SwitchRequest request;
  request.target = Stack::native;
  request.module_mode = stackmgr::config::ModuleMode::external;
  const switching::SwitchResult result = stackmgr::switching::switch_direct(request, host.environment);
  EXPECT_EQ(result.status, switching::SwitchStatus::refused);
  EXPECT_EQ(result.refusal->rule, modules::Rule::no_module_operations);
  EXPECT_THAT(result.refusal->message, HasSubstr("mode = \"external\" under [modules]"));
  EXPECT_EQ(host.world.kernel.insert_calls(), 0);
}

TEST(SwitchDirect, AnUntrustedRecordIsAWarningNotABlocker) {
  Host host;
  std::filesystem::create_directories(host.environment.module_record.parent_path());
  std::ofstream(host.environment.module_record) << "xfrm_algo\n";
  ::chmod(host.environment.module_record.c_str(), 0666);
  const switching::SwitchResult result = host.switch_to(Stack::native);
  EXPECT_EQ(result.report->outcome, modules::Outcome::done);
  EXPECT_THAT(result.warnings, Contains(HasSubstr("refusing to trust the module record")));
  // The fresh record replaced it.
  EXPECT_THAT(host.recorded(), Contains("af_key"));
}

TEST(SwitchDirect, AnUntrustedLockDirectoryIsAConfigError) {
  Host host;
  std::filesystem::create_directories(host.environment.lock_file.parent_path());
  ::chmod(host.environment.lock_file.parent_path().c_str(), 0777);
  const switching::SwitchResult result = host.switch_to(Stack::native);
  EXPECT_EQ(result.status, switching::SwitchStatus::failed);
  EXPECT_EQ(stackmgr::switching::exit_for(result), base::Exit::config);
  EXPECT_EQ(host.world.kernel.insert_calls(), 0);
}

// The same switch through the real detection (detect::detect_host) and the real guard file
// on a fixture root, with the fake kernel as the module backend.
class RealDetection : public ::testing::Test {
 protected:
  RealDetection() {
    write("proc/sys/kernel/osrelease", "6.1.0-fixture\n");
    write("proc/sys/kernel/modules_disabled", "0\n");
    write("proc/modules", "");
    write("proc/self/status", "Name:\tstackmgr\nCapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\n");
    write("proc/net/dev", "");
    std::filesystem::create_directories(root.path() / "sys/class/net");
    std::filesystem::create_directories(root.path() / "lib/modules/6.1.0-fixture");
    environment.lock_file = root.path() / "run/stackmgr/lock";
    environment.module_record = root.path() / "run/stackmgr/loaded-modules";
  }

  void write(const std::string& relative, const std::string& text) {
    std::filesystem::create_directories((root.path() / relative).parent_path());
    std::ofstream(root.path() / relative) << text;
  }

  switching::SwitchResult switch_to(Stack target) {
    stackmgr::switching::SwitchRequest request;
    request.target = target;
    request.wait = stackmgr::os::LockWait::no_wait;
    return stackmgr::switching::switch_direct(request, environment);
  }

  testworld::TempDir root;
  testworld::World world;
  detect::HostRoot host{root.path()};
  detect::SysfsNetDevices net{host};
  modules::GuardFile guard = modules::GuardFile::for_catalog(host, world.catalog);
  fake::FakeClock clock;
  stackmgr::switching::SwitchEnvironment environment{
      world.kernel, guard, clock, [this] {
        return detect::detect_host(detect::DetectInputs{host, world.kernel, net, world.catalog});
      }};
};

TEST_F(RealDetection, NativeToKlipsAndBackWithTheGuardFile) {
  switching::SwitchResult result = switch_to(Stack::native);
  ASSERT_EQ(result.status, switching::SwitchStatus::executed)
      << (result.refusal ? result.refusal->message : "");
  EXPECT_EQ(result.report->outcome, modules::Outcome::done);
  EXPECT_TRUE(world.kernel.is_loaded("esp4"));

  result = switch_to(Stack::klips);
  ASSERT_EQ(result.status, switching::SwitchStatus::executed)
      << (result.refusal ? result.refusal->message : "");
  EXPECT_EQ(result.report->outcome, modules::Outcome::done);
  EXPECT_FALSE(world.kernel.crashed()) << world.kernel.crash_reason();
  EXPECT_TRUE(world.kernel.is_loaded("ipsec"));
  EXPECT_FALSE(world.kernel.is_loaded("esp4"));
  EXPECT_TRUE(std::filesystem::exists(root.path() / "run/modprobe.d/stackmgr-guard.conf"));
  // Detection reads the guard back: a second switch to KLIPS has nothing to do.
  EXPECT_EQ(switch_to(Stack::klips).report->outcome, modules::Outcome::already_there);

  result = switch_to(Stack::native);
  EXPECT_EQ(result.report->outcome, modules::Outcome::done);
  EXPECT_FALSE(world.kernel.is_loaded("ipsec"));
  EXPECT_FALSE(std::filesystem::exists(root.path() / "run/modprobe.d/stackmgr-guard.conf"));
  EXPECT_FALSE(world.kernel.crashed()) << world.kernel.crash_reason();
}

TEST_F(RealDetection, ModulesDisabledIsRefusedWithTheRealReason) {
  write("proc/sys/kernel/modules_disabled", "1\n");
  const switching::SwitchResult result = switch_to(Stack::native);
  ASSERT_EQ(result.status, switching::SwitchStatus::refused);
  EXPECT_EQ(result.refusal->rule, modules::Rule::no_module_operations);
  EXPECT_THAT(result.refusal->message, HasSubstr("modules_disabled is 1"));
  EXPECT_EQ(world.kernel.insert_calls(), 0);
}

}  // namespace

namespace {

// Records, under the lock, the order in which switches ran (the concurrency test).
class OrderRecorder final : public stackmgr::switching::SwitchObserver {
 public:
  OrderRecorder(std::mutex& mutex, std::vector<Stack>& order) : mutex_(mutex), order_(order) {}
  void planned(const modules::Plan& plan) override {
    std::lock_guard lock(mutex_);
    position = static_cast<int>(order_.size());
    order_.push_back(plan.target);
  }
  int position = -1;

 private:
  std::mutex& mutex_;
  std::vector<Stack>& order_;
};

// Twenty direct callers at once, mixed targets, on one fake kernel: the lock lets one run at a
// time; each gets done, already there or busy (after its timeout); the kernel ends on the stack
// of the last switch that ran.
TEST(SwitchDirectConcurrency, TwentyCallersRunOneAtATimeAndTheLastSuccessfulSwitchWins) {
  Host host;
  std::mutex mutex;
  std::vector<Stack> order;
  std::vector<std::pair<int, switching::SwitchResult>> results(20);
  std::vector<std::thread> callers;
  for (int i = 0; i < 20; ++i) {
    callers.emplace_back([&, i] {
      OrderRecorder recorder(mutex, order);
      stackmgr::switching::SwitchRequest request;
      request.target = i % 3 == 0 ? Stack::native : Stack::klips;
      request.policy.load_helpers = false;
      request.wait = stackmgr::os::LockWait::wait;
      request.lock_timeout = std::chrono::milliseconds(i % 4 == 0 ? 0 : 5000);
      switching::SwitchResult result =
          stackmgr::switching::switch_direct(request, host.environment, &recorder);
      results[static_cast<std::size_t>(i)] = {recorder.position, std::move(result)};
    });
  }
  for (auto& caller : callers) caller.join();
  int last = -1;
  std::optional<Stack> last_target;
  int busy = 0;
  for (const auto& [position, result] : results) {
    const base::Exit exit = stackmgr::switching::exit_for(result);
    EXPECT_TRUE(exit == base::Exit::ok || exit == base::Exit::busy) << static_cast<int>(exit);
    if (exit == base::Exit::busy) {
      ++busy;
      EXPECT_EQ(position, -1) << "a busy caller must not have planned anything";
      continue;
    }
    EXPECT_TRUE(result.report->outcome == modules::Outcome::done ||
                result.report->outcome == modules::Outcome::already_there);
    if (position > last) {
      last = position;
      last_target = result.target;
    }
  }
  ASSERT_TRUE(last_target.has_value());
  EXPECT_EQ(static_cast<int>(order.size()), 20 - busy);
  const detect::Snapshot after = host.environment.detect();
  EXPECT_EQ(after.active_stack(), last_target);
  EXPECT_EQ(host.guard.is_set(), *last_target == Stack::klips);
  EXPECT_FALSE(host.world.kernel.crashed());
}

}  // namespace
}  // namespace stackmgr::switching
