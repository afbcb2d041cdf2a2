// The change lock, with real processes: a second caller waits, times out, or fails at once,
// and is told the holder's pid.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "stackmgr/os/lock.hpp"

namespace stackmgr::os {
namespace {

using stackmgr::os::Lock;
using stackmgr::os::LockWait;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "stackmgr-lock-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A child process that takes the lock, reports it on a pipe, and holds it until told to go
// (or for `hold_ms` when that is set).
class Holder {
 public:
  Holder(const std::filesystem::path& lock_file, int hold_ms = -1) : timed_(hold_ms >= 0) {
    if (::pipe(ready_) != 0 || ::pipe(go_) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(ready_[0]);
      ::close(go_[1]);
      auto lock = os::Lock::acquire(lock_file, os::LockWait::no_wait, std::chrono::milliseconds(0));
      const char status = lock ? 'L' : 'E';
      if (::write(ready_[1], &status, 1) != 1) ::_exit(3);
      if (hold_ms >= 0) {
        ::usleep(static_cast<useconds_t>(hold_ms) * 1000);
      } else {
        char byte = 0;
        if (::read(go_[0], &byte, 1) < 0) ::_exit(4);
      }
      ::_exit(lock ? 0 : 2);
    }
    ::close(ready_[1]);
    ::close(go_[0]);
    char status = 0;
    locked_ = ::read(ready_[0], &status, 1) == 1 && status == 'L';
  }
  ~Holder() {
    release();
    wait();
  }
  void release() {
    if (go_[1] < 0) return;
    // A child that lets go by itself, or is dead, never reads: writing would raise SIGPIPE.
    if (!timed_ && !waited_ && ::write(go_[1], "x", 1) != 1) ::kill(pid_, SIGKILL);
    ::close(go_[1]);
    go_[1] = -1;
  }
  void kill() {
    ::kill(pid_, SIGKILL);
    wait();
  }
  int wait() {
    if (waited_) return status_;
    ::waitpid(pid_, &status_, 0);
    waited_ = true;
    return status_;
  }
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] bool locked() const { return locked_; }

 private:
  bool timed_;  // the child lets go by itself and never reads the pipe
  int ready_[2] = {-1, -1};
  int go_[2] = {-1, -1};
  pid_t pid_ = -1;
  bool locked_ = false;
  bool waited_ = false;
  int status_ = 0;
};

TEST(Lock, NoWaitFailsAtOnceAsBusyNamingTheHolderPid) {
  TempDir dir;
  const auto file = dir.path() / "run/stackmgr/lock";
  Holder holder(file);
  ASSERT_TRUE(holder.locked());
  auto second = os::Lock::acquire(file, os::LockWait::no_wait, std::chrono::seconds(30));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, EWOULDBLOCK);
  EXPECT_THAT(second.error().message,
              HasSubstr("busy: another stackmgr (pid " + std::to_string(holder.pid()) +
                        ") is changing the IPsec stack"));
  EXPECT_EQ(stackmgr::os::lock_holder(file), holder.pid());
}

TEST(Lock, AWaitingCallerGetsTheLockOnceTheHolderLetsGo) {
  TempDir dir;
  const auto file = dir.path() / "lock";
  Holder holder(file, 300);
  ASSERT_TRUE(holder.locked());
  std::optional<pid_t> waited_for;
  int waits = 0;
  auto lock =
      os::Lock::acquire(file, os::LockWait::wait, std::chrono::seconds(30), [&](std::optional<pid_t> pid) {
        waited_for = pid;
        ++waits;
      });
  ASSERT_TRUE(lock.ok()) << lock.error().describe();
  EXPECT_EQ(waits, 1);
  EXPECT_EQ(waited_for, holder.pid());
  EXPECT_EQ(stackmgr::os::lock_holder(file), ::getpid());
}

TEST(Lock, AWaitingCallerGivesUpAfterTheTimeout) {
  TempDir dir;
  const auto file = dir.path() / "lock";
  Holder holder(file);
  ASSERT_TRUE(holder.locked());
  auto lock = os::Lock::acquire(file, os::LockWait::wait, std::chrono::milliseconds(200));
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, EWOULDBLOCK);
  EXPECT_THAT(lock.error().message, HasSubstr("still holds " + file.string() + " after waiting 200 ms"));
  EXPECT_THAT(lock.error().message, HasSubstr("--timeout"));
}

TEST(Lock, AWaitingCallerStopsWaitingWhenAskedTo) {
  TempDir dir;
  const auto file = dir.path() / "lock";
  Holder holder(file);
  ASSERT_TRUE(holder.locked());
  int asked = 0;
  const auto started = std::chrono::steady_clock::now();
  auto lock = os::Lock::acquire(file, os::LockWait::wait, std::chrono::seconds(30), {},
                                [&asked] { return ++asked == 3; });
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, ECANCELED);
  EXPECT_THAT(lock.error().message,
              HasSubstr("stopped waiting for another stackmgr (pid " + std::to_string(holder.pid()) +
                        ") to release " + file.string()));
  EXPECT_EQ(asked, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST(Lock, AKilledHolderLeavesNoStaleLock) {
  TempDir dir;
  const auto file = dir.path() / "lock";
  Holder holder(file);
  ASSERT_TRUE(holder.locked());
  holder.kill();
  holder.wait();
  auto lock = os::Lock::acquire(file, os::LockWait::no_wait, std::chrono::milliseconds(0));
  EXPECT_TRUE(lock.ok());
}

TEST(Lock, ReleasingLetsTheNextCallerInAndClearsThePid) {
  TempDir dir;
  const auto file = dir.path() / "lock";
  {
    auto first = os::Lock::acquire(file, os::LockWait::no_wait, std::chrono::milliseconds(0));
    ASSERT_TRUE(first.ok());
    // Another open file description in this same process conflicts too.
    EXPECT_FALSE(os::Lock::acquire(file, os::LockWait::no_wait, std::chrono::milliseconds(0)).ok());
    os::Lock moved = std::move(first).value();
    EXPECT_FALSE(os::Lock::acquire(file, os::LockWait::no_wait, std::chrono::milliseconds(0)).ok());
  }
  EXPECT_EQ(stackmgr::os::lock_holder(file), std::nullopt);
  EXPECT_TRUE(os::Lock::acquire(file, os::LockWait::no_wait, std::chrono::milliseconds(0)).ok());
}

TEST(Lock, CreatesAPrivateDirectory) {
  TempDir dir;
  const auto file = dir.path() / "run/stackmgr/lock";
  ASSERT_TRUE(os::Lock::acquire(file, os::LockWait::no_wait, std::chrono::milliseconds(0)).ok());
  struct stat info {};
  ASSERT_EQ(::stat(file.parent_path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0700U);
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600U);
}

TEST(Lock, RefusesWhatOthersCouldHaveChanged) {
  TempDir dir;
  const auto open_dir = dir.path() / "open";
  std::filesystem::create_directory(open_dir);
  ::chmod(open_dir.c_str(), 0777);
  auto lock = os::Lock::acquire(open_dir / "lock", os::LockWait::no_wait, std::chrono::milliseconds(0));
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.error().code, 0);
  EXPECT_THAT(lock.error().message, HasSubstr("it exists with mode 0777"));
  struct stat info {};
  ASSERT_EQ(::stat(open_dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0777U) << "a directory stackmgr did not make is never chmod'ed";

  const auto private_dir = dir.path() / "private";
  std::filesystem::create_directory(private_dir);
  ::chmod(private_dir.c_str(), 0700);
  std::ofstream(dir.path() / "elsewhere") << "";
  std::filesystem::create_symlink(dir.path() / "elsewhere", private_dir / "lock");
  lock = os::Lock::acquire(private_dir / "lock", os::LockWait::no_wait, std::chrono::milliseconds(0));
  ASSERT_FALSE(lock.ok());
  EXPECT_THAT(lock.error().message, HasSubstr("is a symlink"));
}

}  // namespace
}  // namespace stackmgr::os
