// The state file that keeps an admin's switch across reboots: written atomically, read with
// validation; garbage is a warning, never a crash or a guess.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "stackmgr/config/chosen_stack_file.hpp"

namespace stackmgr::config {
namespace {

namespace fs = std::filesystem;
using detect::Stack;

class ChosenStackFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "stackmgr-state-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
    file_ = dir_ / "stack";
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  void put(const std::string& content, mode_t mode = 0644) {
    std::ofstream(file_, std::ios::binary) << content;
    ASSERT_EQ(chmod(file_.c_str(), mode), 0);
  }
  ChosenStackRead read() {
    const auto result = read_chosen_stack(file_, geteuid());
    EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().describe());
    return result.ok() ? *result : ChosenStackRead{};
  }
  std::string warning_for(const std::string& content) {
    put(content);
    const ChosenStackRead got = read();
    EXPECT_FALSE(got.stack.has_value()) << "garbage must not be read as a stack";
    return got.warning;
  }

  fs::path dir_;
  fs::path file_;
};

TEST_F(ChosenStackFile, WhatIsWrittenIsReadBack) {
  ASSERT_TRUE(write_chosen_stack(file_, Stack::klips, geteuid()).ok());
  EXPECT_EQ(read().stack, Stack::klips);
  ASSERT_TRUE(write_chosen_stack(file_, Stack::native, geteuid()).ok());
  const ChosenStackRead got = read();
  EXPECT_EQ(got.stack, Stack::native);
  EXPECT_TRUE(got.warning.empty());
}

TEST_F(ChosenStackFile, TheFileIs0644AndNoTempFileIsLeft) {
  ::umask(077);
  const detect::Status wrote = write_chosen_stack(file_, Stack::klips, geteuid());
  ::umask(022);
  ASSERT_TRUE(wrote.ok()) << wrote.error().describe();
  struct stat info {};
  ASSERT_EQ(stat(file_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0644u) << "independent of the umask";
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1);
  std::stringstream content;
  content << std::ifstream(file_).rdbuf();
  EXPECT_NE(content.str().find("\nklips\n"), std::string::npos) << content.str();
}

TEST_F(ChosenStackFile, CreatesTheStateDirectory) {
  file_ = dir_ / "lib" / "stack";
  ASSERT_TRUE(write_chosen_stack(file_, Stack::native, geteuid()).ok());
  struct stat info {};
  ASSERT_EQ(stat((dir_ / "lib").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0755u);
  EXPECT_EQ(read().stack, Stack::native);
}

TEST_F(ChosenStackFile, RefusesToWriteIntoADirectoryOthersCanWrite) {
  ASSERT_EQ(chmod(dir_.c_str(), 0777), 0);
  const detect::Status wrote = write_chosen_stack(file_, Stack::klips, geteuid());
  ASSERT_FALSE(wrote.ok());
  EXPECT_NE(wrote.error().message.find("refusing " + dir_.string()), std::string::npos)
      << wrote.error().message;
  EXPECT_FALSE(fs::exists(file_));
}

TEST_F(ChosenStackFile, AFailedRenameLeavesNoTempFile) {
  fs::create_directories(file_ / "occupied");
  const detect::Status wrote = write_chosen_stack(file_, Stack::klips, geteuid());
  ASSERT_FALSE(wrote.ok());
  EXPECT_NE(wrote.error().message.find("renaming"), std::string::npos) << wrote.error().describe();
  int entries = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1) << "only the directory that was in the way";
}

TEST_F(ChosenStackFile, AMissingFileIsNoChoiceAndNoWarning) {
  const ChosenStackRead got = read();
  EXPECT_FALSE(got.stack.has_value());
  EXPECT_TRUE(got.warning.empty());
  file_ = dir_ / "no-such-dir" / "stack";
  EXPECT_TRUE(read().warning.empty());
}

TEST_F(ChosenStackFile, AcceptsCommentsWhitespaceAndAliases) {
  put("# written by hand\n\n  netkey \r\n");
  EXPECT_EQ(read().stack, Stack::native);
  put("klips");
  EXPECT_EQ(read().stack, Stack::klips);
}

TEST_F(ChosenStackFile, GarbageIsAWarningNotAChoice) {
  const std::string warning = warning_for("openswan\n");
  EXPECT_EQ(warning,
            "ignoring " + file_.string() +
                ": 'openswan' is not a stack name (native or klips); treating it as if no switch was "
                "recorded (run 'stackmgr switch native|klips' to record one)");
  EXPECT_NE(warning_for("").find("names no stack (empty or truncated)"), std::string::npos);
  EXPECT_NE(warning_for("# only a comment\n").find("names no stack"), std::string::npos);
  EXPECT_NE(warning_for("native\nklips\n").find("more than one stack"), std::string::npos);
  EXPECT_NE(warning_for(std::string("kli\0ps\n", 7)).find("binary data"), std::string::npos);
  EXPECT_NE(warning_for(std::string(10000, 'k')).find("larger than"), std::string::npos);
  EXPECT_NE(warning_for("\x1b[31mred\n").find("'?[31mred'"), std::string::npos)
      << "control bytes are not echoed";
}

TEST_F(ChosenStackFile, AnUntrustedFileIsAnError) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to chown the file to another uid";
  put("klips\n");
  ASSERT_EQ(chown(file_.c_str(), 4242, 0), 0);
  const auto result = read_chosen_stack(file_);
  ASSERT_FALSE(result.ok()) << "another user could otherwise pick the stack root loads at boot";
  EXPECT_NE(result.error().message.find("owned by uid 4242"), std::string::npos) << result.error().message;
  put("klips\n", 0666);
  ASSERT_EQ(chown(file_.c_str(), 0, 0), 0);
  EXPECT_FALSE(read_chosen_stack(file_).ok());
}

TEST_F(ChosenStackFile, WritingCreatesMissingParentDirectories) {
  const std::filesystem::path nested = file_.parent_path() / "var" / "lib" / "stackmgr" / "stack";
  ASSERT_TRUE(write_chosen_stack(nested, Stack::klips, geteuid()).ok());
  EXPECT_EQ(read_chosen_stack(nested, geteuid()).value().stack, Stack::klips);
}

}  // namespace
}  // namespace stackmgr::config
