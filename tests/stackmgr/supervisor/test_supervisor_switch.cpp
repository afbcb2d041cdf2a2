// An admin's switch through the running supervisor: the real event loop, control
// socket and fork/exec of fake_daemon; the stack is made ready by switch_direct on the fake
// kernel. Clients talk over the socket from threads, as `stackmgr switch` does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/config/chosen_stack_file.hpp"
#include "stackmgr/control/client.hpp"
#include "stackmgr/supervisor/supervisor.hpp"
#include "stackmgr/supervisor/supervisor_switch.hpp"
#include "stackmgr/switch/switch_direct.hpp"
#include "tests/modules/temp_dir.hpp"
#include "tests/modules/world.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_guard.hpp"

namespace stackmgr::supervisor {
namespace {

namespace fs = std::filesystem;
using detect::Stack;
using namespace std::chrono_literals;

class SilentNotifier final : public Notifier {
 public:
  void ready(const std::string&) override {}
  void status(const std::string&) override {}
  void stopping() override {}
  void watchdog() override {}
};

bool contains(const std::vector<std::string>& lines, const std::string& part) {
  for (const auto& line : lines) {
    if (line.find(part) != std::string::npos) return true;
  }
  return false;
}

class SupervisedSwitch : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::permissions(dir_.path(), fs::perms::owner_all);
    config_.paths.run_dir = dir_.path() / "run";
    config_.paths.state_dir = dir_.path() / "state";
    fs::create_directories(config_.paths.run_dir);
    fs::permissions(config_.paths.run_dir, fs::perms::owner_all);
    for (Stack stack : {Stack::native, Stack::klips}) {
      config_.daemon.argv[stack] = {FAKE_DAEMON_PATH, "--ready"};
    }
    config_.daemon.stop_timeout = 2s;
    config_.daemon.restart_initial = 20ms;
    environment_.lock_file = config_.paths.lock_file();
    environment_.module_record = config_.paths.module_record();
  }
  void TearDown() override {
    for (auto& thread : clients_) thread.join();
  }

  switching::StackOutcome prepare(Stack stack, const SupervisorHost::StopRequested& stop_requested = {}) {
    switching::SwitchRequest request;
    request.target = stack;
    request.policy.load_helpers = false;
    request.lock_timeout = 2s;
    environment_.stop_requested = stop_requested;
    const switching::SwitchResult result =
        switching::switch_direct(request, environment_, step_observer_.load());
    const base::Exit exit = switching::exit_for(result);
    return switching::StackOutcome{
        code(exit), exit == base::Exit::ok ? "the stack is ready" : "loading failed", {}};
  }

  std::unique_ptr<Supervisor> create(Stack stack) {
    SupervisorHost host{spawner_,
                        notifier_,
                        [this](Stack target, const SupervisorHost::Report&,
                               const SupervisorHost::StopRequested& stop_requested) {
                          return prepare(target, stop_requested);
                        },
                        [] { return detect::Status{}; },
                        [](const SupervisorHost::Report&, const SupervisorHost::StopRequested&) {
                          return switching::StackOutcome{};
                        },
                        [] { return nlohmann::json::object(); }};
    auto supervisor =
        Supervisor::create(SupervisorSetup{config_, stack, "test", config::ChoiceSource::command_line},
                           std::move(host), std::chrono::microseconds{0});
    EXPECT_TRUE(supervisor) << supervisor.error().describe();
    return supervisor ? std::move(supervisor).value() : nullptr;
  }

  control::ControlReply ask(const control::ControlRequest& request,
                            std::vector<std::string>* progress = nullptr) {
    auto outcome = control::call_supervisor(
        config_.paths.control_socket(), request,
        [progress](const control::ControlReply& line) {
          if (progress != nullptr) progress->push_back(line.message);
        },
        20s);
    if (auto* reply = std::get_if<control::ControlReply>(&outcome)) return *reply;
    ADD_FAILURE() << "control call failed: "
                  << std::get<control::ControlClientError>(outcome).error.describe();
    return {};
  }
  static control::ControlRequest switch_to(Stack stack) {
    control::ControlRequest request;
    request.command = control::ControlCommand::switch_stack;
    request.stack = stack;
    return request;
  }
  nlohmann::json wait_running() {
    nlohmann::json document;
    for (int i = 0; i < 250; ++i) {
      const control::ControlReply reply = ask(control::ControlRequest{});
      document = reply.data;
      if (reply.exit_code == 0 && document["daemon"]["ready"] == true) break;
      std::this_thread::sleep_for(20ms);
    }
    return document;
  }
  void stop() { ask(control::ControlRequest{control::ControlCommand::stop, false, std::nullopt, false}); }
  void client(std::function<void()> body) { clients_.emplace_back(std::move(body)); }

  [[nodiscard]] std::optional<Stack> chosen() const {
    auto read = config::read_chosen_stack(config_.paths.chosen_stack_file(), geteuid());
    return read ? read->stack : std::nullopt;
  }

  testworld::TempDir dir_;
  config::Config config_;
  testworld::World world_;
  fake::FakeGuard guard_;
  fake::FakeClock clock_;
  switching::SwitchEnvironment environment_{world_.kernel, guard_, clock_, [this] {
                                              world_.facts.guard_installed = guard_.is_set();
                                              return world_.snapshot();
                                            }};
  os::ForkExecSpawner spawner_;
  SilentNotifier notifier_;
  std::vector<std::thread> clients_;
  std::atomic<switching::SwitchObserver*> step_observer_{nullptr};  // sees the module steps of every prepare
};

TEST_F(SupervisedSwitch, StopsTheDaemonSwitchesAndStartsItOnTheNewStackRecordingTheChoice) {
  auto supervisor = create(Stack::native);
  ASSERT_TRUE(supervisor);
  control::ControlReply reply;
  std::vector<std::string> progress;
  nlohmann::json before;
  nlohmann::json after;
  client([&] {
    before = wait_running();
    reply = ask(switch_to(Stack::klips), &progress);
    after = wait_running();
    stop();
  });
  EXPECT_EQ(supervisor->run(), 0);
  EXPECT_EQ(reply.exit_code, code(base::Exit::ok)) << reply.message;
  EXPECT_EQ(reply.data["outcome"], "done");
  EXPECT_TRUE(contains(progress, "stopping fake_daemon")) << ::testing::PrintToString(progress);
  EXPECT_TRUE(contains(progress, "switching to the klips stack")) << ::testing::PrintToString(progress);
  EXPECT_TRUE(contains(progress, "is ready")) << ::testing::PrintToString(progress);
  EXPECT_NE(before["daemon"]["pid"], after["daemon"]["pid"]);
  EXPECT_EQ(after["stack"]["chosen"], "klips");
  EXPECT_TRUE(world_.kernel.is_loaded("ipsec"));
  EXPECT_FALSE(world_.kernel.is_loaded("af_key"));
  EXPECT_TRUE(guard_.is_set());
  EXPECT_EQ(chosen(), Stack::klips);
  EXPECT_FALSE(fs::exists(config_.paths.journal()));
}

TEST_F(SupervisedSwitch, AFailedLoadRollsBackRestartsTheDaemonOnTheOldStackAndExitsFour) {
  world_.kernel.fail_insert("ipsec", EIO);
  auto supervisor = create(Stack::native);
  ASSERT_TRUE(supervisor);
  control::ControlReply reply;
  std::vector<std::string> progress;
  nlohmann::json after;
  client([&] {
    wait_running();
    reply = ask(switch_to(Stack::klips), &progress);
    after = wait_running();
    stop();
  });
  EXPECT_EQ(supervisor->run(), 0);
  EXPECT_EQ(reply.exit_code, code(base::Exit::rolled_back)) << reply.message;
  EXPECT_NE(reply.message.find("rolled back"), std::string::npos) << reply.message;
  EXPECT_TRUE(contains(progress, "rolling back to the native stack")) << ::testing::PrintToString(progress);
  EXPECT_EQ(after["daemon"]["ready"], true);
  EXPECT_EQ(after["stack"]["chosen"], "native");
  EXPECT_TRUE(world_.kernel.is_loaded("af_key"));
  EXPECT_FALSE(world_.kernel.is_loaded("ipsec"));
  EXPECT_FALSE(world_.kernel.crashed());
  EXPECT_EQ(chosen(), std::nullopt);
  EXPECT_FALSE(fs::exists(config_.paths.journal()));
}

TEST_F(SupervisedSwitch, AlreadyThereIsAnAnswerNotAChange) {
  auto supervisor = create(Stack::native);
  ASSERT_TRUE(supervisor);
  control::ControlReply reply;
  client([&] {
    wait_running();
    reply = ask(switch_to(Stack::native));
    stop();
  });
  EXPECT_EQ(supervisor->run(), 0);
  EXPECT_EQ(reply.exit_code, code(base::Exit::ok));
  EXPECT_NE(reply.message.find("already on the native stack"), std::string::npos) << reply.message;
  EXPECT_FALSE(fs::exists(config_.paths.journal()));
}

// Twenty callers at once, mixed targets, through the socket: one switch at a time; each gets
// done, already there or busy; the kernel and the daemon end on the last successful switch.
TEST_F(SupervisedSwitch, TwentyConcurrentCallersGetDefiniteAnswersAndTheLastSuccessWins) {
  auto supervisor = create(Stack::native);
  ASSERT_TRUE(supervisor);
  std::mutex mutex;
  std::vector<std::pair<Stack, control::ControlReply>> answers;
  nlohmann::json final_status;
  client([&] {
    wait_running();
    std::vector<std::thread> callers;
    for (int i = 0; i < 20; ++i) {
      const Stack target = i % 3 == 0 ? Stack::native : Stack::klips;
      callers.emplace_back([&, target] {
        control::ControlReply reply = ask(switch_to(target));
        std::lock_guard lock(mutex);
        answers.emplace_back(target, reply);
      });
    }
    for (auto& caller : callers) caller.join();
    final_status = wait_running();
    stop();
  });
  EXPECT_EQ(supervisor->run(), 0);
  ASSERT_EQ(answers.size(), 20u);
  int done = 0;
  for (const auto& [target, reply] : answers) {
    const bool definite =
        reply.exit_code == code(base::Exit::ok) || reply.exit_code == code(base::Exit::busy);
    EXPECT_TRUE(definite) << reply.exit_code << " " << reply.message;
    if (reply.data.is_object() && reply.data.value("outcome", "") == "done") ++done;
  }
  EXPECT_GE(done, 1);
  // The supervisor serves one switch at a time, so the last successful switch is the state now.
  const Stack live = world_.kernel.is_loaded("ipsec") ? Stack::klips : Stack::native;
  EXPECT_EQ(final_status["stack"]["chosen"], std::string(detect::to_string(live)));
  if (done > 0) {
    EXPECT_EQ(chosen(), live);
  }
  EXPECT_FALSE(world_.kernel.crashed());
  EXPECT_FALSE(fs::exists(config_.paths.journal()));
}

// Pauses after each module step, so that a stop can arrive while the modules change.
class SlowSteps final : public switching::SwitchObserver {
 public:
  void step_finished(const modules::StepRecord& record) override {
    if (record.phase == modules::Phase::forward) ++forward;
    std::this_thread::sleep_for(100ms);
  }
  std::atomic<int> forward = 0;
};

TEST_F(SupervisedSwitch, AStopWhileTheModulesChangeEndsTheSwitchAtAStepBoundaryWithTheKernelBack) {
  auto supervisor = create(Stack::native);
  ASSERT_TRUE(supervisor);
  SlowSteps slow;
  control::ControlReply reply;
  client([&] {
    wait_running();
    step_observer_ = &slow;  // the switch's prepare sees it; the boot's did not
    std::thread stopper([&] {
      while (slow.forward < 2) std::this_thread::sleep_for(5ms);
      stop();
    });
    reply = ask(switch_to(Stack::klips));
    stopper.join();
  });
  EXPECT_EQ(supervisor->run(), 0) << "a requested stop is a clean stop";
  EXPECT_EQ(reply.exit_code, code(base::Exit::rolled_back)) << reply.message;
  EXPECT_EQ(reply.data["outcome"], "interrupted") << reply.data.dump();
  EXPECT_NE(reply.message.find("a stop request interrupted the switch to klips"), std::string::npos)
      << reply.message;
  EXPECT_LT(slow.forward, 6) << "the switch did not run to its end";
  EXPECT_TRUE(world_.kernel.is_loaded("af_key")) << "rolled back to where it started";
  EXPECT_FALSE(world_.kernel.is_loaded("ipsec"));
  EXPECT_FALSE(guard_.is_set());
  EXPECT_FALSE(world_.kernel.crashed());
  EXPECT_EQ(chosen(), std::nullopt) << "an interrupted switch records no choice";
  EXPECT_TRUE(fs::exists(config_.paths.journal())) << "the next start reads what was interrupted";
}

}  // namespace
}  // namespace stackmgr::supervisor
