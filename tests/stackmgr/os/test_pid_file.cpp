// The single-instance lock on the pid file.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "stackmgr/os/pid_file.hpp"

namespace stackmgr::os {
namespace {

namespace fs = std::filesystem;

class PidFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/stackmgr-pidfile-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    path_ = dir_ / "stackmgr.pid";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string contents() const {
    std::string text;
    std::ifstream in(path_);
    for (std::string line; std::getline(in, line);) text += line + "\n";
    return text;
  }
  fs::path dir_;
  fs::path path_;
};

TEST_F(PidFileTest, FirstAcquireWritesOurPid) {
  auto result = PidFile::acquire(path_);
  ASSERT_TRUE(std::holds_alternative<PidFile>(result));
  EXPECT_EQ(contents(), std::to_string(getpid()) + "\n");
  auto probe = probe_pid_file(path_);
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->state, PidFileState::locked);
  EXPECT_EQ(probe->pid, getpid());
}

TEST_F(PidFileTest, SecondAcquireIsBusyAndNamesTheHolder) {
  auto first = PidFile::acquire(path_);
  ASSERT_TRUE(std::holds_alternative<PidFile>(first));
  // Another process tries: it must fail at once, not wait.
  const pid_t child = fork();
  if (child == 0) {
    auto second = PidFile::acquire(path_);
    const auto* busy = std::get_if<AlreadyRunning>(&second);
    _exit(busy != nullptr && busy->pid == getppid() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the second acquire was not refused as busy";
  EXPECT_EQ(contents(), std::to_string(getpid()) + "\n") << "the loser must not overwrite the pid";
}

TEST_F(PidFileTest, RemoveDeletesAndUnlocks) {
  auto first = PidFile::acquire(path_);
  std::get<PidFile>(first).remove();
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_EQ(probe_pid_file(path_)->state, PidFileState::absent);
  EXPECT_TRUE(std::holds_alternative<PidFile>(PidFile::acquire(path_)));
}

TEST_F(PidFileTest, ReleaseKeepsAStaleFileThatTheNextStartTakesOver) {
  {
    auto first = PidFile::acquire(path_);
    ASSERT_TRUE(std::get<PidFile>(first).write_pid(424242));
    std::get<PidFile>(first).release();
  }
  auto probe = probe_pid_file(path_);
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->state, PidFileState::stale);
  EXPECT_EQ(probe->pid, 424242);
  auto next = PidFile::acquire(path_);
  ASSERT_TRUE(std::holds_alternative<PidFile>(next));
  EXPECT_EQ(contents(), std::to_string(getpid()) + "\n");
}

TEST_F(PidFileTest, ACrashedHolderLeavesNoLock) {
  const pid_t child = fork();
  if (child == 0) {
    auto held = PidFile::acquire(path_);
    _exit(std::holds_alternative<PidFile>(held) ? 0 : 1);  // dies holding it
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(probe_pid_file(path_)->state, PidFileState::stale);
  EXPECT_TRUE(std::holds_alternative<PidFile>(PidFile::acquire(path_)));
}

TEST_F(PidFileTest, RefusesASymlinkAndToleratesGarbage) {
  fs::create_symlink(dir_ / "elsewhere", path_);
  auto through_link = PidFile::acquire(path_);
  ASSERT_TRUE(std::holds_alternative<detect::Error>(through_link));
  EXPECT_EQ(std::get<detect::Error>(through_link).code, ELOOP);
  EXPECT_FALSE(fs::exists(dir_ / "elsewhere"));
  fs::remove(path_);
  std::ofstream(path_) << "not a pid\n";
  auto probe = probe_pid_file(path_);
  ASSERT_TRUE(probe);
  EXPECT_EQ(probe->state, PidFileState::stale);
  EXPECT_FALSE(probe->pid.has_value());
}

TEST_F(PidFileTest, MissingDirectoryIsAClearError) {
  auto result = PidFile::acquire(dir_ / "no-such-dir" / "stackmgr.pid");
  ASSERT_TRUE(std::holds_alternative<detect::Error>(result));
  EXPECT_NE(std::get<detect::Error>(result).describe().find("opening the pid file"), std::string::npos);
}

TEST(ParsePid, AcceptsOnlyOneProcessIdWithBlanksAround) {
  EXPECT_EQ(parse_pid("42"), 42);
  EXPECT_EQ(parse_pid("812\n"), 812);
  EXPECT_EQ(parse_pid("  4194304 \n"), 4194304);
  EXPECT_EQ(parse_pid(""), std::nullopt);
  EXPECT_EQ(parse_pid("0"), std::nullopt);
  EXPECT_EQ(parse_pid("-5"), std::nullopt);
  EXPECT_EQ(parse_pid("4194305"), std::nullopt);
  EXPECT_EQ(parse_pid("99999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_pid("12 34"), std::nullopt);
  EXPECT_EQ(parse_pid("12abc"), std::nullopt);
}

}  // namespace
}  // namespace stackmgr::os
