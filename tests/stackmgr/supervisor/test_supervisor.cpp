// The Supervisor wiring: the real event loop, sockets and fork/exec (of fake_daemon), with a
// fake stack host (prepare, flush, unload are recorded) and a recording notifier. The
// supervisor runs in the test's main thread; a client thread talks to it over the control
// socket, as `stackmgr status` and `stop` do.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/control/client.hpp"
#include "stackmgr/supervisor/supervisor.hpp"

namespace stackmgr::supervisor {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class RecordingNotifier final : public Notifier {
 public:
  void ready(const std::string& status) override { add("ready: " + status); }
  void status(const std::string& status) override { add("status: " + status); }
  void stopping() override { add("stopping"); }
  void watchdog() override { add("watchdog"); }
  std::vector<std::string> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }

 private:
  void add(std::string event) {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  std::mutex mutex_;
  std::vector<std::string> events_;
};

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/stackmgr-supervisor-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    config_.paths.run_dir = dir_;
    config_.module_mode = config::ModuleMode::external;
    config_.daemon.argv[detect::Stack::native] = {FAKE_DAEMON_PATH, "--ready"};
    config_.daemon.restart_initial = 20ms;
    config_.daemon.restart_max = 80ms;
    config_.daemon.stop_timeout = 2s;
  }
  void TearDown() override {
    if (client_.joinable()) client_.join();
    fs::remove_all(dir_);
  }

  std::unique_ptr<Supervisor> create() {
    SupervisorHost host{
        spawner_,
        notifier_,
        [this](detect::Stack stack, const SupervisorHost::Report& report,
               const SupervisorHost::StopRequested& stop_requested) {
          prepared_.push_back(stack);
          if (slow_prepare_) return slow_prepare_(report, stop_requested);
          return prepare_result_;
        },
        [this] {
          ++flushes_;
          return detect::Status{};
        },
        [this](const SupervisorHost::Report&, const SupervisorHost::StopRequested&) {
          ++unloads_;
          return unload_result_;
        },
        [] {
          return nlohmann::json{{"active", "native"}, {"kernel", {{"sas", 0}}}};
        },
    };
    auto supervisor = Supervisor::create(
        SupervisorSetup{config_, detect::Stack::native, "native (test)", config::ChoiceSource::command_line},
        std::move(host), watchdog_);
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
        5s);
    if (auto* reply = std::get_if<control::ControlReply>(&outcome)) return *reply;
    ADD_FAILURE() << "control call failed: "
                  << std::get<control::ControlClientError>(outcome).error.describe();
    return {};
  }

  // Polls status until the daemon is ready (or 5 s), returning the last status document.
  nlohmann::json wait_running() {
    nlohmann::json document;
    for (int i = 0; i < 250; ++i) {
      control::ControlReply reply =
          ask(control::ControlRequest{control::ControlCommand::status, false, std::nullopt, false});
      document = reply.data;
      if (reply.exit_code == 0 && document["daemon"]["ready"] == true) break;
      std::this_thread::sleep_for(20ms);
    }
    return document;
  }

  // Runs `body` in a client thread (created after the supervisor blocked its signals, so they
  // reach its signalfd), and sends SIGTERM to end a supervisor that outlives it by 10 s.
  void client(std::function<void()> body) {
    client_ = std::thread([body = std::move(body)] { body(); });
  }

  fs::path dir_;
  config::Config config_;
  os::ForkExecSpawner spawner_;
  RecordingNotifier notifier_;
  std::vector<detect::Stack> prepared_;
  std::atomic<int> flushes_ = 0;
  std::atomic<int> unloads_ = 0;
  switching::StackOutcome prepare_result_{0, "the native stack is usable", {}};
  switching::StackOutcome unload_result_{0, "unloaded", {}};
  // When set, prepare runs this instead of returning prepare_result_ (on the module worker).
  std::function<switching::StackOutcome(const SupervisorHost::Report&, const SupervisorHost::StopRequested&)>
      slow_prepare_;
  std::chrono::microseconds watchdog_{0};  // WATCHDOG_USEC as systemd would pass it
  std::thread client_;
};

TEST_F(SupervisorTest, StartsReadyAnswersStatusAndStopsCleanly) {
  auto supervisor = create();
  ASSERT_TRUE(supervisor);
  nlohmann::json status;
  control::ControlReply stopped;
  std::vector<std::string> progress;
  client([&] {
    status = wait_running();
    stopped =
        ask(control::ControlRequest{control::ControlCommand::stop, false, std::nullopt, false}, &progress);
  });
  EXPECT_EQ(supervisor->run(), 0);
  client_.join();

  EXPECT_EQ(status["schema"], "stackmgr.status/1");
  EXPECT_EQ(status["supervisor"]["phase"], "running");
  EXPECT_EQ(status["stack"]["chosen"], "native");
  EXPECT_EQ(status["stack"]["active"], "native");
  const auto pid = status["daemon"]["pid"].get<int>();
  EXPECT_GT(pid, 0);
  EXPECT_EQ(status["daemon"]["name"], "fake_daemon");
  EXPECT_EQ(status["daemon"]["status_text"], "fake daemon ready") << "the daemon's own STATUS=";
  const auto events = notifier_.events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front(), "ready: stack native, fake_daemon pid " + std::to_string(pid));
  EXPECT_NE(std::find(events.begin(), events.end(), "stopping"), events.end());

  EXPECT_TRUE(stopped.ok) << stopped.message;
  EXPECT_EQ(stopped.data["pid"], getpid());
  ASSERT_GE(progress.size(), 2u);
  EXPECT_NE(progress[0].find("SIGTERM"), std::string::npos) << progress[0];
  EXPECT_EQ(flushes_, 2) << "before the start and after the stop";
  EXPECT_EQ(unloads_, 0);
  EXPECT_EQ(kill(pid, 0), -1) << "the daemon is gone";
  EXPECT_FALSE(fs::exists(config_.paths.control_socket()));
  EXPECT_FALSE(fs::exists(config_.paths.notify_socket()));
  auto last = read_last_run(config_.paths);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ((*last)["supervisor"]["running"], false);
  EXPECT_EQ((*last)["supervisor"]["exit"], 0);
}

TEST_F(SupervisorTest, CrashLoopEndsTheRunWithDaemonFailed) {
  config_.daemon.argv[detect::Stack::native] = {FAKE_DAEMON_PATH, "--exit", "3"};
  config_.daemon.crash_loop_limit = 2;
  auto supervisor = create();
  ASSERT_TRUE(supervisor);
  EXPECT_EQ(supervisor->run(), code(base::Exit::daemon_failed));
  const auto events = notifier_.events();
  for (const auto& event : events) EXPECT_EQ(event.rfind("ready", 0), std::string::npos) << event;
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events.back().find("failed: fake_daemon"), std::string::npos) << events.back();
  auto last = read_last_run(config_.paths);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ((*last)["supervisor"]["phase"], "failed");
  EXPECT_EQ((*last)["daemon"]["restarts"], 2);
  EXPECT_EQ((*last)["daemon"]["last_exit"]["code"], 3);
}

TEST_F(SupervisorTest, RefusedStackStartsNoDaemon) {
  prepare_result_ =
      switching::StackOutcome{code(base::Exit::refused), "refusing to load KLIPS: af_key is loaded", {}};
  auto supervisor = create();
  ASSERT_TRUE(supervisor);
  EXPECT_EQ(supervisor->run(), code(base::Exit::refused));
  EXPECT_EQ(prepared_, (std::vector<detect::Stack>{detect::Stack::native}));
  EXPECT_EQ(flushes_, 0);
  EXPECT_TRUE(notifier_.events().size() <= 1u);
}

TEST_F(SupervisorTest, SigtermStopsLikeAStopRequest) {
  auto supervisor = create();
  ASSERT_TRUE(supervisor);
  client([&] {
    wait_running();
    kill(getpid(), SIGTERM);
  });
  EXPECT_EQ(supervisor->run(), 0);
  EXPECT_EQ(flushes_, 2);
}

TEST_F(SupervisorTest, StopUnloadReportsTheUnloadOutcomeToTheClient) {
  unload_result_ = switching::StackOutcome{code(base::Exit::refused), "not unloading: esp4 is in use", {}};
  auto supervisor = create();
  ASSERT_TRUE(supervisor);
  control::ControlReply stopped;
  std::vector<std::string> progress;
  client([&] {
    wait_running();
    stopped =
        ask(control::ControlRequest{control::ControlCommand::stop, true, std::nullopt, false}, &progress);
  });
  EXPECT_EQ(supervisor->run(), 0) << "the supervisor itself stopped fine";
  client_.join();
  EXPECT_EQ(unloads_, 1);
  EXPECT_EQ(stopped.exit_code, code(base::Exit::refused));
  bool shown = false;
  for (const auto& line : progress) shown = shown || line.find("esp4 is in use") != std::string::npos;
  EXPECT_TRUE(shown) << "the unload refusal was not streamed to the client";
}

// The full switch is tested in test_supervisor_switch.cpp; here, the socket's answer
// for the stack already running, which changes nothing.
TEST_F(SupervisorTest, SwitchToTheRunningStackOverTheSocketIsAlreadyThere) {
  config_.paths.state_dir = dir_ / "state";  // the switch journal goes there, not to /var/lib
  auto supervisor = create();
  ASSERT_TRUE(supervisor);
  control::ControlReply switched;
  client([&] {
    wait_running();
    switched = ask(
        control::ControlRequest{control::ControlCommand::switch_stack, false, detect::Stack::native, false});
    ask(control::ControlRequest{control::ControlCommand::stop, false, std::nullopt, false});
  });
  EXPECT_EQ(supervisor->run(), 0);
  client_.join();
  EXPECT_TRUE(switched.ok);
  EXPECT_NE(switched.message.find("already on the native stack"), std::string::npos) << switched.message;
  EXPECT_EQ(prepared_.size(), 1u) << "no stack change happened";
  EXPECT_FALSE(fs::exists(config_.paths.journal()));
}

// Module work that takes `steps` steps of `each`, reporting each one and honouring a stop
// request between two of them, as the executor does; `done` counts the steps it finished.
std::function<switching::StackOutcome(const SupervisorHost::Report&, const SupervisorHost::StopRequested&)>
stepwise_prepare(int steps, std::chrono::milliseconds each, std::atomic<int>& done) {
  return [steps, each, &done](const SupervisorHost::Report& report,
                              const SupervisorHost::StopRequested& stop) {
    for (int step = 1; step <= steps; ++step) {
      if (stop()) {
        report(base::LogLevel::warn, "stopped before step " + std::to_string(step));
        return switching::StackOutcome{
            code(base::Exit::rolled_back), "a stop was requested before step " + std::to_string(step), {}};
      }
      report(base::LogLevel::info, "step " + std::to_string(step) + " of " + std::to_string(steps));
      std::this_thread::sleep_for(each);
      ++done;
    }
    return switching::StackOutcome{0, "the native stack is live", {}};
  };
}

TEST_F(SupervisorTest, ModuleWorkRunsOffTheLoopSoTheWatchdogAndStatusCarryOn) {
  watchdog_ = std::chrono::microseconds{200000};  // a ping due every 100 ms
  std::atomic<int> done = 0;
  slow_prepare_ = stepwise_prepare(12, 100ms, done);  // 1.2 s: six watchdog periods
  auto supervisor = create();
  ASSERT_TRUE(supervisor);
  nlohmann::json during;
  int pings_during = 0;
  int steps_at_status = 0;
  client([&] {
    std::this_thread::sleep_for(500ms);
    const auto before = notifier_.events();
    const int pings_before = static_cast<int>(std::count(before.begin(), before.end(), "watchdog"));
    during = ask(control::ControlRequest{control::ControlCommand::status, false, std::nullopt, false}).data;
    steps_at_status = done;
    std::this_thread::sleep_for(400ms);
    const auto events = notifier_.events();
    pings_during = static_cast<int>(std::count(events.begin(), events.end(), "watchdog")) - pings_before;
    wait_running();
    kill(getpid(), SIGTERM);
  });
  EXPECT_EQ(supervisor->run(), 0);
  client_.join();
  EXPECT_GT(steps_at_status, 0);
  EXPECT_LT(steps_at_status, 12) << "status must answer while the work runs, not after it";
  EXPECT_EQ(during["supervisor"]["phase"], "preparing-stack");
  ASSERT_TRUE(during.contains("module_work")) << during.dump();
  EXPECT_EQ(during["module_work"]["doing"], "making the native stack ready");
  EXPECT_NE(during["module_work"]["step"].get<std::string>().find("of 12"), std::string::npos);
  EXPECT_EQ(during["kernel"]["error"], "not read while the supervisor changes modules");
  EXPECT_GE(pings_during, 2) << "the watchdog must be pinged while modules change";
  EXPECT_EQ(done, 12);
}

TEST_F(SupervisorTest, SigtermDuringModuleWorkStopsAtTheNextStepAndStartsNoDaemon) {
  std::atomic<int> done = 0;
  slow_prepare_ = stepwise_prepare(20, 100ms, done);
  auto supervisor = create();
  ASSERT_TRUE(supervisor);
  control::ControlReply status;
  client([&] {
    while (done < 3) std::this_thread::sleep_for(10ms);
    kill(getpid(), SIGTERM);
  });
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(supervisor->run(), 0) << "a requested stop is a clean stop";
  client_.join();
  EXPECT_LT(done, 6) << "the work stopped at a step boundary, not at its end";
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
  const auto events = notifier_.events();
  EXPECT_EQ(std::count(events.begin(), events.end(), "stopping"), 1);
  for (const auto& event : events) EXPECT_EQ(event.rfind("ready", 0), std::string::npos) << event;
  auto last = read_last_run(config_.paths);
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ((*last)["supervisor"]["phase"], "stopped");
  EXPECT_EQ((*last)["daemon"]["pid"], nullptr) << "no daemon was started on a half-made stack";
}

TEST_F(SupervisorTest, StopUnloadDuringModuleWorkUnloadsOnceTheWorkHasStopped) {
  std::atomic<int> done = 0;
  slow_prepare_ = stepwise_prepare(20, 100ms, done);
  auto supervisor = create();
  ASSERT_TRUE(supervisor);
  control::ControlReply stopped;
  std::vector<std::string> progress;
  client([&] {
    while (done < 2) std::this_thread::sleep_for(10ms);
    stopped =
        ask(control::ControlRequest{control::ControlCommand::stop, true, std::nullopt, false}, &progress);
  });
  EXPECT_EQ(supervisor->run(), 0);
  client_.join();
  EXPECT_LT(done, 6);
  EXPECT_EQ(unloads_, 1);
  EXPECT_TRUE(stopped.ok) << stopped.message;
  bool said_stopping = false;
  for (const auto& line : progress)
    said_stopping = said_stopping || line.find("module step") != std::string::npos;
  EXPECT_TRUE(said_stopping) << "the client hears that the stop waits for the module step";
}

}  // namespace
}  // namespace stackmgr::supervisor
