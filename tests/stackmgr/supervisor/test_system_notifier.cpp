// What systemd and the --daemon parent hear from stackmgr.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "stackmgr/supervisor/notify_listener.hpp"
#include "stackmgr/supervisor/system_notifier.hpp"

namespace stackmgr::supervisor {
namespace {

namespace fs = std::filesystem;

class SystemdNotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/stackmgr-sdnotify-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    auto listener = NotifyListener::bind(dir_ / "systemd.sock");
    ASSERT_TRUE(listener);
    listener_.emplace(std::move(listener).value());
    setenv("NOTIFY_SOCKET", listener_->path().c_str(), 1);
  }
  void TearDown() override {
    unsetenv("NOTIFY_SOCKET");
    listener_.reset();
    fs::remove_all(dir_);
  }
  fs::path dir_;
  std::optional<NotifyListener> listener_;
};

TEST_F(SystemdNotifierTest, ReadyCarriesTheStatusLine) {
  SystemdNotifier notifier;
  notifier.ready("stack native, pluto pid 42");
  auto messages = listener_->receive();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].pid, getpid());
  EXPECT_TRUE(messages[0].ready());
  EXPECT_EQ(messages[0].get("STATUS"), "stack native, pluto pid 42");
}

TEST_F(SystemdNotifierTest, StatusStoppingAndWatchdog) {
  SystemdNotifier notifier;
  notifier.status("failed: pluto died\nREADY=1");  // a newline must not forge an assignment
  notifier.stopping();
  notifier.watchdog();
  auto messages = listener_->receive();
  ASSERT_EQ(messages.size(), 3u);
  EXPECT_EQ(messages[0].get("STATUS"), "failed: pluto died READY=1");
  EXPECT_FALSE(messages[0].ready());
  EXPECT_EQ(messages[1].get("STOPPING"), "1");
  EXPECT_EQ(messages[2].get("WATCHDOG"), "1");
}

TEST(SystemdWatchdog, IntervalComesFromWatchdogUsecForOurPid) {
  unsetenv("WATCHDOG_PID");
  unsetenv("WATCHDOG_USEC");
  EXPECT_EQ(systemd_watchdog_interval().count(), 0);
  setenv("WATCHDOG_USEC", "3000000", 1);
  EXPECT_EQ(systemd_watchdog_interval(), std::chrono::seconds(3));
  setenv("WATCHDOG_PID", "1", 1);  // meant for another process
  EXPECT_EQ(systemd_watchdog_interval().count(), 0);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  EXPECT_EQ(systemd_watchdog_interval(), std::chrono::seconds(3));
  for (const char* malformed : {"", "3s", "-1", "0", "99999999999999999999999"}) {
    setenv("WATCHDOG_USEC", malformed, 1);
    EXPECT_EQ(systemd_watchdog_interval().count(), 0) << "'" << malformed << "'";
  }
  unsetenv("WATCHDOG_PID");
  unsetenv("WATCHDOG_USEC");
}

TEST(SystemdNotifierSocket, AnAbstractNameReachesTheAbstractNamespace) {
  const std::string name = "stackmgr-test-notify-" + std::to_string(getpid());
  base::UniqueFd server(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(server);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path + 1, name.data(), name.size());  // sun_path[0] == 0: abstract
  ASSERT_EQ(bind(server.get(), reinterpret_cast<const sockaddr*>(&address),
                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size())),
            0);
  setenv("NOTIFY_SOCKET", ("@" + name).c_str(), 1);
  SystemdNotifier notifier;
  unsetenv("NOTIFY_SOCKET");
  notifier.stopping();
  char buffer[64] = {};
  const ssize_t got = recv(server.get(), buffer, sizeof buffer, MSG_DONTWAIT);
  EXPECT_EQ(std::string(buffer, got > 0 ? static_cast<std::size_t>(got) : 0), "STOPPING=1");
}

TEST(SystemdNotifierSocket, WithoutAUsableNotifySocketEveryCallIsANoOp) {
  for (const char* name : {"", "relative/path", "@", "/nonexistent/stackmgr-notify.sock"}) {
    setenv("NOTIFY_SOCKET", name, 1);
    SystemdNotifier notifier;
    notifier.ready("native");  // must neither throw nor block nor raise SIGPIPE
    notifier.watchdog();
  }
  unsetenv("NOTIFY_SOCKET");
}

TEST(ReadinessPipe, ReadyWritesOneByteOnceThenCloses) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    ReadinessPipeNotifier notifier{base::UniqueFd(fds[1])};
    notifier.ready("stack native");
    notifier.ready("again");
  }
  char buffer[8];
  ASSERT_EQ(read(fds[0], buffer, sizeof buffer), 1);
  EXPECT_EQ(buffer[0], 'R');
  EXPECT_EQ(read(fds[0], buffer, sizeof buffer), 0) << "closed after ready";
  close(fds[0]);
}

TEST(ReadinessPipe, NeverReadyMeansEofForTheParent) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  { ReadinessPipeNotifier notifier{base::UniqueFd(fds[1])}; }
  char byte = 0;
  EXPECT_EQ(read(fds[0], &byte, 1), 0);
  close(fds[0]);
}

TEST(NotifierList, FansOutToEveryNotifier) {
  int first[2], second[2];
  ASSERT_EQ(pipe(first), 0);
  ASSERT_EQ(pipe(second), 0);
  NotifierList list;
  list.add(std::make_unique<ReadinessPipeNotifier>(base::UniqueFd(first[1])));
  list.add(std::make_unique<ReadinessPipeNotifier>(base::UniqueFd(second[1])));
  list.ready("x");
  char byte = 0;
  EXPECT_EQ(read(first[0], &byte, 1), 1);
  EXPECT_EQ(read(second[0], &byte, 1), 1);
  close(first[0]);
  close(second[0]);
}

// Counts watchdog pings; safe to call from the keepalive's thread.
class PingCounter final : public Notifier {
 public:
  void ready(const std::string&) override {}
  void status(const std::string&) override {}
  void stopping() override {}
  void watchdog() override { ++pings; }
  std::atomic<int> pings = 0;
};

TEST(WatchdogKeepalive, PingsAtOnceThenEveryPeriodAndNeverAfterItEnds) {
  PingCounter counter;
  {
    WatchdogKeepalive keepalive(counter, std::chrono::milliseconds(20));
    EXPECT_GE(counter.pings, 1) << "the first ping comes at once";
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
  }
  const int at_end = counter.pings;
  EXPECT_GE(at_end, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(counter.pings, at_end) << "no ping once it is gone";
}

}  // namespace
}  // namespace stackmgr::supervisor
