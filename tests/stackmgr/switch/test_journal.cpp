// The switch journal: written atomically before each step, read back exactly; a corrupt or
// truncated journal is a clear problem and is moved aside, never a crash or a guess.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "stackmgr/switch/journal.hpp"
#include "tests/modules/temp_dir.hpp"

namespace stackmgr::switching {
namespace {

namespace fs = std::filesystem;
using detect::Stack;

SwitchJournal sample() {
  SwitchJournal journal;
  journal.from = Stack::native;
  journal.to = Stack::klips;
  journal.via = JournalVia::supervisor;
  journal.pid = 4242;
  journal.started_at = 1700000000;
  journal.phase = "executing";
  journal.steps = {{"stop pluto", true}, {"remove esp4", false}, {"insert ipsec", false}};
  return journal;
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class Journal : public ::testing::Test {
 protected:
  testworld::TempDir dir_;
  fs::path file_ = dir_.path() / "state" / "journal";
};

TEST_F(Journal, WhatIsWrittenIsReadBackAndTheFileIsPrivate) {
  ASSERT_TRUE(write_journal(file_, sample()).ok());
  struct stat info {};
  ASSERT_EQ(stat(file_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const auto read = read_journal(file_);
  ASSERT_TRUE(read.ok()) << read.error().describe();
  ASSERT_TRUE(read->journal.has_value());
  EXPECT_EQ(*read->journal, sample());
  EXPECT_TRUE(read->problem.empty());
}

TEST_F(Journal, RewritingLeavesNoTemporaryFilesBehind) {
  SwitchJournal journal = sample();
  ASSERT_TRUE(write_journal(file_, journal).ok());
  ASSERT_TRUE(journal.mark_done("remove esp4"));
  ASSERT_TRUE(write_journal(file_, journal).ok());
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(file_.parent_path())) ++entries;
  EXPECT_EQ(entries, 1);
  EXPECT_EQ(read_journal(file_)->journal->next_step(), 2u);
}

TEST_F(Journal, ANoneFromStackRoundTrips) {
  SwitchJournal journal = sample();
  journal.from.reset();
  ASSERT_TRUE(write_journal(file_, journal).ok());
  EXPECT_FALSE(read_journal(file_)->journal->from.has_value());
  EXPECT_NE(slurp(file_).find("\"from\": null"), std::string::npos);
}

TEST_F(Journal, AMissingJournalIsNoJournalAndNoProblem) {
  const auto read = read_journal(file_);
  ASSERT_TRUE(read.ok());
  EXPECT_FALSE(read->journal.has_value());
  EXPECT_TRUE(read->problem.empty());
}

TEST_F(Journal, RemovingItTwiceIsFine) {
  ASSERT_TRUE(write_journal(file_, sample()).ok());
  EXPECT_TRUE(remove_journal(file_).ok());
  EXPECT_FALSE(fs::exists(file_));
  EXPECT_TRUE(remove_journal(file_).ok());
}

class CorruptJournal : public Journal, public ::testing::WithParamInterface<std::string> {};

TEST_P(CorruptJournal, IsReportedMovedAsideAndNeverGuessed) {
  fs::create_directories(file_.parent_path());
  std::ofstream(file_, std::ios::binary) << GetParam();
  ASSERT_EQ(chmod(file_.c_str(), 0600), 0);
  const auto read = read_journal(file_);
  ASSERT_TRUE(read.ok()) << read.error().describe();
  EXPECT_FALSE(read->journal.has_value());
  EXPECT_NE(read->problem.find("unusable"), std::string::npos) << read->problem;
  EXPECT_NE(read->problem.find("moved it aside"), std::string::npos) << read->problem;
  EXPECT_FALSE(fs::exists(file_));
  ASSERT_FALSE(read->moved_to.empty());
  EXPECT_EQ(slurp(read->moved_to), GetParam());
}

std::string truncated() {
  const std::string whole = journal_to_json(sample()).dump(2);
  return whole.substr(0, whole.size() / 2);
}

INSTANTIATE_TEST_SUITE_P(
    Contents, CorruptJournal,
    ::testing::Values(truncated(), std::string(), std::string("\0\1\2garbage", 10), "[]",
                      R"({"version":1,"from":"native","steps":[]})",
                      R"({"version":1,"from":"native","to":"bsd","steps":[]})",
                      R"({"version":1,"from":"klips","to":"native","steps":[{"what":3}]})",
                      R"({"version":2,"from":"klips","to":"native","steps":[]})",
                      // 2^32 + 1 is not version 1, however an int would see it.
                      R"({"version":4294967297,"from":"klips","to":"native","steps":[]})"));

TEST_F(Journal, AnOversizedJournalIsMovedAsideToo) {
  fs::create_directories(file_.parent_path());
  std::ofstream(file_) << std::string(200 * 1024, ' ');
  ASSERT_EQ(chmod(file_.c_str(), 0600), 0);
  const auto read = read_journal(file_);
  ASSERT_TRUE(read.ok());
  EXPECT_NE(read->problem.find("larger"), std::string::npos) << read->problem;
  EXPECT_FALSE(fs::exists(file_));
}

TEST_F(Journal, AJournalOthersCanWriteIsRefusedNotRead) {
  ASSERT_TRUE(write_journal(file_, sample()).ok());
  ASSERT_EQ(chmod(file_.c_str(), 0666), 0);
  const auto read = read_journal(file_);
  EXPECT_FALSE(read.ok());
  EXPECT_TRUE(fs::exists(file_));
}

TEST_F(Journal, ARelativePathIsRefused) {
  EXPECT_EQ(write_journal("journal", sample()).error().code, EINVAL);
}

}  // namespace
}  // namespace stackmgr::switching
