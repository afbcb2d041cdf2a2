// The fork/exec spawner against real processes (tests/stackmgr/fake_daemon.cpp reports what it
// got), and the argv/environment builders.

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <poll.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <set>
#include <string>

#include "stackmgr/os/process.hpp"

namespace stackmgr::os {
namespace {

using ::testing::HasSubstr;

std::string read_all(int fd) {
  std::string text;
  char buffer[4096];
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    text.append(buffer, static_cast<std::size_t>(got));
  }
  return text;
}

std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> found;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(at, end - at);
    if (line.rfind(prefix, 0) == 0) found.push_back(line.substr(prefix.size()));
    at = end + 1;
  }
  return found;
}

// Waits (bounded) until `pid` has been reaped and returns how it ended.
std::optional<ProcessExit> wait_reaped(pid_t pid, std::vector<ReapedChild>* others = nullptr) {
  std::optional<ProcessExit> found;
  for (int i = 0; i < 500 && !found; ++i) {
    for (const auto& child : reap_children()) {
      if (child.pid == pid) {
        found = child.how;
      } else if (others != nullptr) {
        others->push_back(child);
      }
    }
    if (!found) usleep(10000);
  }
  return found;
}

SpawnSpec probe(std::vector<std::string> arguments, std::vector<std::string> environment = {}) {
  arguments.insert(arguments.begin(), FAKE_DAEMON_PATH);
  return SpawnSpec{std::move(arguments), std::move(environment)};
}

TEST(Spawner, ChildGetsExactlyTheGivenEnvironment) {
  setenv("STACKMGR_TEST_LEAK", "must-not-reach-the-daemon", 1);
  ForkExecSpawner spawner;
  auto spawned = spawner.spawn(probe({"--report", "--exit", "0"}, {"A=1", "NOTIFY_SOCKET=/run/x.sock"}));
  ASSERT_TRUE(spawned) << spawned.error().describe();
  const std::string output = read_all(spawned->output.get());
  EXPECT_EQ(lines_starting(output, "env "), (std::vector<std::string>{"A=1", "NOTIFY_SOCKET=/run/x.sock"}))
      << output;
  EXPECT_EQ(wait_reaped(spawned->pid), (ProcessExit{0, 0}));
}

TEST(Spawner, ChildHasOnlyStdioItsOwnSessionAndCleanSignals) {
  // Things a careless spawner would leak: an inheritable fd, a blocked and an ignored signal.
  const int leaked = open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaked, 3);
  sigset_t block, old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigprocmask(SIG_BLOCK, &block, &old_mask);
  auto old_usr1 = signal(SIGUSR1, SIG_IGN);

  ForkExecSpawner spawner;
  auto spawned = spawner.spawn(probe({"--report", "--exit", "0"}));
  sigprocmask(SIG_SETMASK, &old_mask, nullptr);
  signal(SIGUSR1, old_usr1);
  close(leaked);
  ASSERT_TRUE(spawned) << spawned.error().describe();
  const std::string output = read_all(spawned->output.get());

  EXPECT_EQ(lines_starting(output, "fd "), (std::vector<std::string>{"0", "1", "2"})) << output;
  EXPECT_EQ(lines_starting(output, "stdin "), (std::vector<std::string>{"/dev/null"}));
  const std::string pid = std::to_string(spawned->pid);
  EXPECT_EQ(lines_starting(output, "pid "), (std::vector<std::string>{pid + " sid " + pid + " pgid " + pid}))
      << "the daemon leads its own session";
  EXPECT_EQ(lines_starting(output, "SigBlk:\t"), (std::vector<std::string>{"0000000000000000"}));
  EXPECT_EQ(lines_starting(output, "SigIgn:\t"), (std::vector<std::string>{"0000000000000000"}));
  EXPECT_EQ(lines_starting(output, "cwd "), (std::vector<std::string>{"/"}));
  EXPECT_TRUE(wait_reaped(spawned->pid).has_value());
}

TEST(Spawner, StdoutAndStderrShareOnePipe) {
  ForkExecSpawner spawner;
  auto spawned = spawner.spawn(probe({"--say", "hello from stdout", "--bogus-flag"}));
  ASSERT_TRUE(spawned);
  const std::string output = read_all(spawned->output.get());
  EXPECT_NE(output.find("hello from stdout\n"), std::string::npos);
  EXPECT_NE(output.find("fake_daemon: unknown argument --bogus-flag"), std::string::npos) << "stderr";
  EXPECT_EQ(wait_reaped(spawned->pid), (ProcessExit{64, 0}));
}

TEST(Spawner, MissingBinaryIsAPermanentErrorAndLeavesNoChild) {
  ForkExecSpawner spawner;
  auto spawned = spawner.spawn(SpawnSpec{{"/nonexistent/stackmgr-test/pluto", "--nofork"}, {}});
  ASSERT_FALSE(spawned);
  EXPECT_EQ(spawned.error().code, ENOENT);
  EXPECT_NE(spawned.error().describe().find("executing /nonexistent/stackmgr-test/pluto"), std::string::npos);
  EXPECT_TRUE(is_permanent_spawn_error(spawned.error()));
  EXPECT_TRUE(reap_children().empty()) << "the failed child was already reaped";
}

// The bits of a /proc/PID/status capability line ("CapBnd:\t000001ffffffffff").
std::uint64_t capability_bits(const std::string& report, const std::string& set) {
  const auto lines = lines_starting(report, set + ":\t");
  return lines.size() == 1 ? std::stoull(lines[0], nullptr, 16) : ~std::uint64_t{0};
}

bool has_bit(std::uint64_t bits, int capability) { return ((bits >> capability) & 1U) != 0; }

// Puts `capability` into this process's inheritable and ambient sets (as a careless parent
// could), so a child that keeps it would show it.
void raise_inheritable_and_ambient(cap_value_t capability) {
  cap_t now = cap_get_proc();
  ASSERT_NE(now, nullptr);
  ASSERT_EQ(cap_set_flag(now, CAP_INHERITABLE, 1, &capability, CAP_SET), 0);
  ASSERT_EQ(cap_set_proc(now), 0);
  cap_free(now);
  ASSERT_EQ(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, capability, 0, 0), 0);
}

bool can_drop_bounding_capabilities() {
  cap_t now = cap_get_proc();
  cap_flag_value_t value = CAP_CLEAR;
  cap_get_flag(now, CAP_SETPCAP, CAP_EFFECTIVE, &value);
  cap_free(now);
  return value == CAP_SET && prctl(PR_CAPBSET_READ, CAP_SYS_MODULE, 0, 0, 0) == 1;
}

TEST(Spawner, DroppedCapabilitiesAreGoneFromEverySetOfTheProgram) {
  if (!can_drop_bounding_capabilities())
    GTEST_SKIP() << "needs CAP_SETPCAP and CAP_SYS_MODULE in the bounding set";
  raise_inheritable_and_ambient(CAP_SYS_MODULE);
  ForkExecSpawner spawner;

  auto kept = spawner.spawn(probe({"--report", "--exit", "0"}));
  ASSERT_TRUE(kept) << kept.error().describe();
  const std::string before = read_all(kept->output.get());
  EXPECT_TRUE(has_bit(capability_bits(before, "CapBnd"), CAP_SYS_MODULE)) << "without the drop: " << before;
  EXPECT_TRUE(has_bit(capability_bits(before, "CapAmb"), CAP_SYS_MODULE)) << before;
  EXPECT_TRUE(wait_reaped(kept->pid).has_value());

  SpawnSpec spec = probe({"--report", "--exit", "0"});
  spec.drop_capabilities = {CAP_SYS_MODULE};
  auto dropped = spawner.spawn(spec);
  ASSERT_TRUE(dropped) << dropped.error().describe();
  const std::string after = read_all(dropped->output.get());
  for (const char* set : {"CapBnd", "CapInh", "CapAmb", "CapPrm", "CapEff"}) {
    EXPECT_FALSE(has_bit(capability_bits(after, set), CAP_SYS_MODULE)) << set << " still has it: " << after;
  }
  EXPECT_TRUE(has_bit(capability_bits(after, "CapBnd"), CAP_NET_ADMIN))
      << "only the named ones go: " << after;
  EXPECT_TRUE(has_bit(capability_bits(after, "CapEff"), CAP_NET_ADMIN)) << after;
  EXPECT_EQ(wait_reaped(dropped->pid), (ProcessExit{0, 0}));
  EXPECT_EQ(prctl(PR_CAPBSET_READ, CAP_SYS_MODULE, 0, 0, 0), 1) << "the parent keeps it";
}

TEST(Spawner, AProgramThatWouldKeepADroppedCapabilityIsNotStarted) {
  if (!can_drop_bounding_capabilities())
    GTEST_SKIP() << "needs CAP_SETPCAP and CAP_SYS_MODULE in the bounding set";
  // Without CAP_SETPCAP the bounding set cannot shrink: the spawn must fail, not go ahead.
  cap_t now = cap_get_proc();
  cap_value_t setpcap = CAP_SETPCAP;
  ASSERT_EQ(cap_set_flag(now, CAP_EFFECTIVE, 1, &setpcap, CAP_CLEAR), 0);
  ASSERT_EQ(cap_set_proc(now), 0);
  cap_free(now);

  ForkExecSpawner spawner;
  SpawnSpec spec = probe({"--say", "should never run"});
  spec.drop_capabilities = {CAP_SYS_MODULE};
  auto spawned = spawner.spawn(spec);
  ASSERT_FALSE(spawned);
  EXPECT_EQ(spawned.error().code, EPERM);
  EXPECT_THAT(spawned.error().describe(),
              HasSubstr("dropping CAP_SYS_MODULE before executing " FAKE_DAEMON_PATH));
  EXPECT_THAT(spawned.error().describe(), HasSubstr("CAP_SETPCAP"));
  EXPECT_TRUE(is_permanent_spawn_error(spawned.error()));
  EXPECT_TRUE(reap_children().empty()) << "the failed child was already reaped";
}

TEST(Spawner, ACapabilityThisKernelDoesNotKnowIsNothingToDrop) {
  if (!can_drop_bounding_capabilities()) GTEST_SKIP() << "needs CAP_SETPCAP";
  ForkExecSpawner spawner;
  SpawnSpec spec = probe({"--exit", "0"});
  spec.drop_capabilities = {62};  // far above CAP_LAST_CAP of any kernel so far
  auto spawned = spawner.spawn(spec);
  ASSERT_TRUE(spawned) << spawned.error().describe();
  EXPECT_EQ(wait_reaped(spawned->pid), (ProcessExit{0, 0}));
}

TEST(Spawner, RelativeOrEmptyArgvIsRefusedBeforeForking) {
  ForkExecSpawner spawner;
  auto relative = spawner.spawn(SpawnSpec{{"pluto"}, {}});
  ASSERT_FALSE(relative);
  EXPECT_NE(relative.error().message.find("absolute path"), std::string::npos);
  EXPECT_FALSE(spawner.spawn(SpawnSpec{{}, {}}));
  EXPECT_FALSE(spawner.spawn(SpawnSpec{{std::string(FAKE_DAEMON_PATH), std::string("a\0b", 3)}, {}}));
}

TEST(Spawner, ReapReportsExitCodesAndSignals) {
  ForkExecSpawner spawner;
  auto exiting = spawner.spawn(probe({"--exit", "3"}));
  ASSERT_TRUE(exiting);
  EXPECT_EQ(wait_reaped(exiting->pid), (ProcessExit{3, 0}));

  auto sleeping = spawner.spawn(probe({"--say", "up"}));
  ASSERT_TRUE(sleeping);
  char buffer[8];
  ASSERT_GT(read(sleeping->output.get(), buffer, sizeof buffer), 0);  // it is running
  ASSERT_TRUE(spawner.signal(sleeping->pid, SIGTERM, SignalScope::process));
  EXPECT_EQ(wait_reaped(sleeping->pid), (ProcessExit{-1, SIGTERM}));
  EXPECT_TRUE(spawner.signal(sleeping->pid, SIGTERM, SignalScope::process)) << "ESRCH: already gone is fine";
}

TEST(Spawner, GroupSignalReachesTheDaemonsChildren) {
  // Become a subreaper so the orphaned grandchild is reaped here and we can see it die.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  ForkExecSpawner spawner;
  auto spawned = spawner.spawn(probe({"--ignore-term", "--grandchild"}));
  ASSERT_TRUE(spawned);
  std::string output;
  char buffer[256];
  while (output.find('\n') == std::string::npos) {
    const ssize_t got = read(spawned->output.get(), buffer, sizeof buffer);
    ASSERT_GT(got, 0);
    output.append(buffer, static_cast<std::size_t>(got));
  }
  const pid_t grandchild = std::stoi(lines_starting(output, "grandchild ").at(0));

  ASSERT_TRUE(spawner.signal(spawned->pid, SIGTERM, SignalScope::process));
  usleep(50000);
  EXPECT_TRUE(reap_children().empty()) << "--ignore-term: SIGTERM does nothing";
  ASSERT_TRUE(spawner.signal(spawned->pid, SIGKILL, SignalScope::group));
  std::vector<ReapedChild> others;
  EXPECT_EQ(wait_reaped(spawned->pid, &others), (ProcessExit{-1, SIGKILL}));
  if (others.empty()) {
    auto how = wait_reaped(grandchild);
    ASSERT_TRUE(how.has_value()) << "the grandchild survived the group SIGKILL";
    EXPECT_EQ(how->signal, SIGKILL);
  } else {
    EXPECT_EQ(others[0].pid, grandchild);
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST(BuildEnvironment, ConfiguredPlusNotifySocketSorted) {
  auto environment =
      build_environment({{"PATH", "/usr/sbin:/usr/bin"}, {"LANG", "C"}}, "/run/stackmgr/notify.sock");
  ASSERT_TRUE(environment);
  EXPECT_EQ(*environment, (std::vector<std::string>{"LANG=C", "NOTIFY_SOCKET=/run/stackmgr/notify.sock",
                                                    "PATH=/usr/sbin:/usr/bin"}));
}

TEST(BuildEnvironment, RejectsBadNamesAndOurOwnVariable) {
  EXPECT_FALSE(build_environment({{"A=B", "x"}}, ""));
  EXPECT_FALSE(build_environment({{"1X", "x"}}, ""));
  EXPECT_FALSE(build_environment({{"", "x"}}, ""));
  auto ours = build_environment({{"NOTIFY_SOCKET", "/tmp/evil"}}, "/run/x");
  ASSERT_FALSE(ours);
  EXPECT_NE(ours.error().message.find("set by stackmgr"), std::string::npos);
}

TEST(RunCapture, CapturesStdoutStderrAndExitCodeWithoutAShell) {
  const auto result = run_capture({"/usr/bin/printf", "%s|%s", "a b", "$HOME;ls"}, {"LC_ALL=C"});
  ASSERT_TRUE(result.ok()) << result.error().describe();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->out, "a b|$HOME;ls");  // arguments arrive verbatim: nothing expanded them
  const auto failing = run_capture({"/usr/bin/ls", "/nonexistent-stackmgr"}, {"LC_ALL=C"});
  ASSERT_TRUE(failing.ok());
  EXPECT_NE(failing->exit_code, 0);
  EXPECT_THAT(failing->err, HasSubstr("nonexistent-stackmgr"));
}

TEST(RunCapture, PassesExactlyTheGivenEnvironment) {
  const auto result = run_capture({"/usr/bin/env"}, {"ONLY=this"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->out, "ONLY=this\n");
}

TEST(RunCapture, MissingBinaryIsAnErrorWithItsErrno) {
  const auto result = run_capture({"/nonexistent/iptables-save"}, {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ENOENT);
  EXPECT_FALSE(run_capture({"relative"}, {}).ok());
}

TEST(RunCapture, TimeoutKillsTheChild) {
  CaptureLimits limits;
  limits.timeout = std::chrono::milliseconds(200);
  const auto result = run_capture({"/usr/bin/sleep", "10"}, {}, limits);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ETIMEDOUT);
}

TEST(RunCapture, OutputBeyondTheLimitIsTruncatedNotBlocking) {
  CaptureLimits limits;
  limits.max_output = 1000;
  const auto result = run_capture({"/usr/bin/head", "-c", "100000", "/dev/zero"}, {}, limits);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->out.size(), 1000u);
  EXPECT_TRUE(result->truncated);
  EXPECT_EQ(result->exit_code, 0);
}

TEST(RunCapture, AHelperThatClosesItsOutputAndHangsIsKilledAtTheTimeout) {
  CaptureLimits limits;
  limits.timeout = std::chrono::milliseconds(300);
  const auto started = std::chrono::steady_clock::now();
  const auto result = run_capture({"/bin/sh", "-c", "exec >&- 2>&-; exec sleep 30"}, {}, limits);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ETIMEDOUT);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST(RunAndWait, ReturnsTheExitStatusOrTheSignal) {
  EXPECT_EQ(run_and_wait({"/bin/true"}).value(), 0);
  EXPECT_EQ(run_and_wait({"/bin/sh", "-c", "exit 7"}).value(), 7);
  EXPECT_EQ(run_and_wait({"/bin/sh", "-c", "kill -TERM $$"}).value(), 128 + SIGTERM);
  const auto missing = run_and_wait({"/nonexistent/invoke-rc.d"});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ENOENT);
  EXPECT_FALSE(run_and_wait({"true"}).ok());
}

}  // namespace
}  // namespace stackmgr::os
