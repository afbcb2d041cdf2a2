// The Supervisor wiring: the real event loop, sockets and fork/exec (of fake_daemon), with a
// fake stack host (prepare, flush, unload are recorded) and a recording notifier. The
// supervisor runs in the test's main thread; a client thread talks to it over the control
// socket, as `stackmgr status` and `stop` do.

#include <gtest/gtest.h>
#include <unistd.h>

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
        [this](detect::Stack stack, const std::function<void(base::LogLevel, const std::string&)>&) {
          prepared_.push_back(stack);
          return prepare_result_;
        },
        [this] {
          ++flushes_;
          return detect::Status{};
        },
        [this](const std::function<void(base::LogLevel, const std::string&)>&) {
          ++unloads_;
          return unload_result_;
        },
        [] {
          return nlohmann::json{{"active", "native"}, {"kernel", {{"sas", 0}}}};
        },
    };
    auto supervisor = Supervisor::create(
        SupervisorSetup{config_, detect::Stack::native, "native (test)", config::ChoiceSource::command_line},
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

}  // namespace
}  // namespace stackmgr::supervisor
