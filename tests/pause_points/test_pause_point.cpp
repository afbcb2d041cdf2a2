// stackmgr/base/pause_point.hpp, as stackmgr-pause-points has it: the trace lists every point of
// a durable write in order, and a process asked to pause at one stops there, says so, and leaves
// the file as it was at that point until it is killed.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "modules/atomic_file.hpp"
#include "stackmgr/base/pause_point.hpp"

namespace {

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class PausePoint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("stackmgr-pause-point-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    ::unsetenv("STACKMGR_PAUSE_TRACE");
    ::unsetenv("STACKMGR_PAUSE_AT");
    ::unsetenv("STACKMGR_PAUSE_REPORT");
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
};

TEST_F(PausePoint, TraceListsTheStepsOfADurableWriteInOrder) {
  const auto trace = dir_ / "trace";
  const auto file = dir_ / "state";
  ::setenv("STACKMGR_PAUSE_TRACE", trace.c_str(), 1);
  ASSERT_TRUE(modules::write_file_atomically(file, "one\n", 0600));
  ASSERT_TRUE(modules::remove_file_durably(file));
  // Counts are per process and per name: this test may not be the first to write.
  std::istringstream lines(read_text(trace));
  std::string line;
  for (const char* name : {"write.written#", "write.synced#", "write.renamed#", "write.dir-synced#",
                           "remove.unlinked#", "remove.dir-synced#"}) {
    ASSERT_TRUE(std::getline(lines, line)) << "no line for " << name;
    EXPECT_EQ(line.rfind(name, 0), 0U) << line;
    EXPECT_NE(line.find(" " + file.string()), std::string::npos) << line;
  }
  EXPECT_FALSE(std::getline(lines, line)) << "unexpected: " << line;
}

TEST_F(PausePoint, WithoutTheVariablesNothingHappens) {
  const auto file = dir_ / "state";
  ASSERT_TRUE(modules::write_file_atomically(file, "one\n", 0600));
  EXPECT_EQ(read_text(file), "one\n");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

TEST_F(PausePoint, PausesAtTheNamedHitReportsItAndWaitsUntilKilled) {
  const auto file = dir_ / "state";
  const auto report = dir_ / "report";
  ASSERT_TRUE(modules::write_file_atomically(file, "old\n", 0600));
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child's own counts start from the parent's; pause at its second rename from here on.
    ::setenv("STACKMGR_PAUSE_TRACE", (dir_ / "trace").c_str(), 1);
    ::setenv("STACKMGR_PAUSE_REPORT", report.c_str(), 1);
    static_cast<void>(modules::write_file_atomically(dir_ / "other", "x\n", 0600));
    std::string hit = read_text(dir_ / "trace");
    hit = hit.substr(hit.find("write.synced#"));
    const int first = std::stoi(hit.substr(std::string("write.synced#").size()));
    ::setenv("STACKMGR_PAUSE_AT", ("write.synced#" + std::to_string(first + 1)).c_str(), 1);
    static_cast<void>(modules::write_file_atomically(file, "new\n", 0600));
    ::_exit(0);  // not reached when the pause works
  }
  std::string said;
  for (int i = 0; i < 500 && said.find('\n') == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    said = read_text(report);
  }
  EXPECT_EQ(said.rfind("# PAUSED write.synced#", 0), 0U) << said;
  EXPECT_NE(said.find(" " + file.string() + "\n"), std::string::npos) << said;
  int status = 0;
  EXPECT_EQ(::waitpid(child, &status, WNOHANG), 0) << "the paused process went on";
  // Paused between the fsync of the new file and its rename: the old content is still in place.
  EXPECT_EQ(read_text(file), "old\n");
  ::kill(child, SIGKILL);
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

}  // namespace
