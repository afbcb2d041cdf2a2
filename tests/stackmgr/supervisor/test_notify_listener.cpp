// The NOTIFY_SOCKET listener with real datagrams from real processes.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "stackmgr/os/process.hpp"
#include "stackmgr/supervisor/notify_listener.hpp"

namespace stackmgr::supervisor {
namespace {

namespace fs = std::filesystem;

class NotifyListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/stackmgr-notify-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ / "notify.sock";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Sends `payload` from this process, optionally passing an fd along (SCM_RIGHTS).
  void send(std::string_view payload, int pass_fd = -1) const {
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path_.c_str(), sizeof address.sun_path - 1);
    iovec vector{const_cast<char*>(payload.data()), payload.size()};
    msghdr message{};
    message.msg_name = &address;
    message.msg_namelen = sizeof address;
    message.msg_iov = &vector;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    if (pass_fd >= 0) {
      message.msg_control = control;
      message.msg_controllen = sizeof control;
      cmsghdr* header = CMSG_FIRSTHDR(&message);
      header->cmsg_level = SOL_SOCKET;
      header->cmsg_type = SCM_RIGHTS;
      header->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(header), &pass_fd, sizeof pass_fd);
    }
    ASSERT_GE(sendmsg(fd, &message, 0), 0) << std::strerror(errno);
    close(fd);
  }

  fs::path dir_;
  fs::path path_;
};

TEST_F(NotifyListenerTest, BindsAPrivatePathSocket) {
  auto listener = NotifyListener::bind(path_);
  ASSERT_TRUE(listener) << listener.error().describe();
  struct stat info {};
  ASSERT_EQ(lstat(path_.c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  EXPECT_TRUE(listener.value().receive().empty()) << "non-blocking: nothing waiting, nothing returned";
}

TEST_F(NotifyListenerTest, ReplacesAStaleSocketAndRemovesItsOwnOnDestruction) {
  { auto first = NotifyListener::bind(path_); }
  EXPECT_FALSE(fs::exists(path_)) << "removed when the listener goes away";
  ASSERT_EQ(close(open(path_.c_str(), O_CREAT | O_WRONLY, 0600)), 0);  // a stale leftover
  auto listener = NotifyListener::bind(path_);
  ASSERT_TRUE(listener) << listener.error().describe();
}

TEST_F(NotifyListenerTest, CarriesTheSendersKernelVerifiedPid) {
  auto listener = NotifyListener::bind(path_);
  ASSERT_TRUE(listener);
  const pid_t child = fork();
  if (child == 0) {
    send("READY=1\nSTATUS=child up");
    _exit(0);
  }
  int status = 0;
  waitpid(child, &status, 0);
  auto messages = listener.value().receive();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].pid, child);
  EXPECT_EQ(messages[0].uid, getuid());
  EXPECT_TRUE(messages[0].ready());
  EXPECT_EQ(messages[0].get("STATUS"), "child up");
}

TEST_F(NotifyListenerTest, TellsTheDaemonFromItsChildren) {
  auto listener = NotifyListener::bind(path_);
  ASSERT_TRUE(listener);
  os::ForkExecSpawner spawner;
  auto daemon =
      spawner.spawn(os::SpawnSpec{{FAKE_DAEMON_PATH, "--ready-from-child", "--say", "sent", "--ready"},
                                  {"NOTIFY_SOCKET=" + path_.string()}});
  ASSERT_TRUE(daemon) << daemon.error().describe();
  std::vector<NotifyMessage> messages;
  for (int i = 0; i < 300 && messages.size() < 2; ++i) {
    for (auto& message : listener.value().receive()) messages.push_back(std::move(message));
    usleep(10000);
  }
  ASSERT_EQ(messages.size(), 2u);
  EXPECT_NE(messages[0].pid, daemon->pid) << "the first READY=1 came from a child of the daemon";
  EXPECT_EQ(messages[1].pid, daemon->pid);
  spawner.signal(daemon->pid, SIGKILL, os::SignalScope::process);
  waitpid(daemon->pid, nullptr, 0);
}

TEST_F(NotifyListenerTest, DropsOversizedEmptyAndGarbageDatagrams) {
  auto listener = NotifyListener::bind(path_);
  ASSERT_TRUE(listener);
  send(std::string(8192, 'A'));
  send("");
  send("no equals sign\n=value without key\n");
  send("garbage\nREADY=1\n\n");
  auto messages = listener.value().receive();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_TRUE(messages[0].ready());
  EXPECT_EQ(messages[0].fields.size(), 1u);
}

TEST_F(NotifyListenerTest, ClosesFileDescriptorsPassedAlong) {
  auto listener = NotifyListener::bind(path_);
  ASSERT_TRUE(listener);
  const int passed = open("/dev/null", O_RDONLY | O_CLOEXEC);
  send("FDSTORE=1", passed);
  close(passed);
  auto messages = listener.value().receive();
  ASSERT_EQ(messages.size(), 1u);
  // The received copy would take the lowest free fd: it was closed, so that number is free.
  const int probe = open("/dev/null", O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(probe, passed) << "the fd that came with the datagram is still open in the listener";
  close(probe);
}

TEST_F(NotifyListenerTest, RefusesRelativeAndOverlongPaths) {
  EXPECT_FALSE(NotifyListener::bind("relative.sock"));
  auto overlong = NotifyListener::bind(dir_ / std::string(200, 'x'));
  ASSERT_FALSE(overlong);
  EXPECT_NE(overlong.error().message.find("must be absolute"), std::string::npos);
}

TEST(ParseNotifyPayload, KeepsOrderAndTakesTheLastValue) {
  auto message = parse_notify_payload("STATUS=one\nRELOADING=1\nSTATUS=two=2\nREADY=1");
  ASSERT_TRUE(message);
  EXPECT_EQ(message->fields.size(), 4u);
  EXPECT_EQ(message->get("STATUS"), "two=2");
  EXPECT_TRUE(message->ready());
  EXPECT_FALSE(parse_notify_payload("\n\n"));
  EXPECT_FALSE(parse_notify_payload("READY=0")->ready());
}

}  // namespace
}  // namespace stackmgr::supervisor
