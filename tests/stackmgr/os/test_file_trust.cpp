// The trust check refuses files others could have written. Runs as root so that it can chown
// temp files to another uid and exercise each refusal on a real filesystem.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

#include "stackmgr/os/file_trust.hpp"

namespace stackmgr::os {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kStranger = 4242;  // a uid with no passwd entry
constexpr gid_t kStaff = 50;       // Debian's 'staff' group

class FileTrust : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: the test chowns files to another uid";
    std::string pattern = (fs::temp_directory_path() / "stackmgr-trust-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    ASSERT_EQ(chmod(dir_.c_str(), 0755), 0);
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  fs::path write(const std::string& name, const std::string& content, mode_t mode = 0644) {
    const fs::path file = dir_ / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << content;
    EXPECT_EQ(chmod(file.c_str(), mode), 0);
    return file;
  }

  fs::path dir_;
};

TEST_F(FileTrust, ReadsARootOwnedFileNobodyElseCanWrite) {
  const fs::path file = write("stackmgr.toml", "stack = \"klips\"\n");
  const auto content = read_trusted_file(file);
  ASSERT_TRUE(content.ok()) << content.error().describe();
  EXPECT_EQ(*content, "stack = \"klips\"\n");
}

TEST_F(FileTrust, RefusesAGroupWritableFileAndSaysHowToFixIt) {
  const fs::path file = write("stackmgr.toml", "", 0664);
  ASSERT_EQ(chown(file.c_str(), 0, kStaff), 0);
  const auto status = check_trusted(file, TrustedKind::file);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().describe(), "refusing " + file.string() +
                                           ": it is writable by group 'staff' (mode 0664); run 'chmod go-w " +
                                           file.string() + "'");
}

TEST_F(FileTrust, RefusesAWorldWritableFile) {
  const fs::path file = write("stackmgr.toml", "", 0646);
  const auto content = read_trusted_file(file);
  ASSERT_FALSE(content.ok());
  EXPECT_NE(content.error().message.find("it is writable by others (mode 0646)"), std::string::npos)
      << content.error().message;
}

TEST_F(FileTrust, RefusesAFileOwnedBySomeoneElse) {
  const fs::path file = write("stackmgr.toml", "");
  ASSERT_EQ(chown(file.c_str(), kStranger, 0), 0);
  const auto status = check_trusted(file, TrustedKind::file);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().describe(), "refusing " + file.string() +
                                           ": it is owned by uid 4242, not root; run 'chown root " +
                                           file.string() + "'");
}

TEST_F(FileTrust, AcceptsTheOwnerTheCallerNames) {
  const fs::path file = write("stackmgr.toml", "x");
  ASSERT_EQ(chown(file.c_str(), kStranger, 0), 0);
  EXPECT_TRUE(check_trusted(file, TrustedKind::file, kStranger).ok());
  const auto refused = check_trusted(file, TrustedKind::file, 4343);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("not root or uid 4343"), std::string::npos)
      << refused.error().message;
}

TEST_F(FileTrust, RefusesAFileInADirectoryOthersCanWrite) {
  const fs::path file = write("etc/stackmgr.toml", "");
  ASSERT_EQ(chmod((dir_ / "etc").c_str(), 0777), 0);
  const auto status = check_trusted(file, TrustedKind::file);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().describe(),
            "refusing " + file.string() + ": the directory " + (dir_ / "etc").string() +
                " above it is writable by group 'root' and others (mode 0777), so they could replace it; "
                "run 'chmod go-w " +
                (dir_ / "etc").string() + "'");
}

TEST_F(FileTrust, RefusesAFileInADirectoryOwnedBySomeoneElse) {
  const fs::path file = write("etc/stackmgr.toml", "");
  ASSERT_EQ(chown((dir_ / "etc").c_str(), kStranger, 0), 0);
  const auto status = check_trusted(file, TrustedKind::file);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("the directory " + (dir_ / "etc").string() +
                                        " above it is owned by uid 4242"),
            std::string::npos)
      << status.error().message;
}

TEST_F(FileTrust, RefusesAnUntrustedDirectoryHigherUp) {
  const fs::path file = write("a/b/c/stackmgr.toml", "");
  ASSERT_EQ(chmod((dir_ / "a").c_str(), 0775), 0);
  const auto status = check_trusted(file, TrustedKind::file);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find((dir_ / "a").string() + " above it is writable by group"),
            std::string::npos)
      << status.error().message;
}

TEST_F(FileTrust, AcceptsAStickyWorldWritableDirectoryOwnedByRoot) {
  const fs::path file = write("tmp/stackmgr.toml", "");
  ASSERT_EQ(chmod((dir_ / "tmp").c_str(), 01777), 0);
  EXPECT_TRUE(check_trusted(file, TrustedKind::file).ok());
}

TEST_F(FileTrust, RefusesASymlinkOwnedBySomeoneElse) {
  const fs::path target = write("real.toml", "stack = \"native\"\n");
  const fs::path link = dir_ / "stackmgr.toml";
  ASSERT_EQ(symlink(target.c_str(), link.c_str()), 0);
  ASSERT_TRUE(read_trusted_file(link).ok()) << "a root-owned symlink to a trusted file is fine";

  ASSERT_EQ(lchown(link.c_str(), kStranger, 0), 0);
  const auto content = read_trusted_file(link);
  ASSERT_FALSE(content.ok());
  EXPECT_EQ(content.error().describe(),
            "refusing " + link.string() + ": the symlink " + link.string() +
                " on its path is owned by uid 4242, not root, so that user chooses "
                "what it points to; run 'chown -h root " +
                link.string() + "'");
}

TEST_F(FileTrust, FollowsRelativeSymlinksAndChecksWhereTheyLead) {
  const fs::path target = write("unsafe/real.toml", "", 0644);
  ASSERT_EQ(chmod((dir_ / "unsafe").c_str(), 0777), 0);
  write("etc/placeholder", "");
  const fs::path link = dir_ / "etc" / "stackmgr.toml";
  ASSERT_EQ(symlink("../unsafe/real.toml", link.c_str()), 0);
  const auto status = check_trusted(link, TrustedKind::file);
  ASSERT_FALSE(status.ok()) << "the link is root's, but it leads into a world-writable directory";
  EXPECT_NE(status.error().message.find("the directory " + (dir_ / "unsafe").string()), std::string::npos)
      << status.error().message;
}

TEST_F(FileTrust, GivesUpOnSymlinkLoops) {
  const fs::path a = dir_ / "a";
  const fs::path b = dir_ / "b";
  ASSERT_EQ(symlink(b.c_str(), a.c_str()), 0);
  ASSERT_EQ(symlink(a.c_str(), b.c_str()), 0);
  const auto status = check_trusted(a, TrustedKind::file);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ELOOP);
}

TEST_F(FileTrust, AMissingFileIsENOENT) {
  const auto status = check_trusted(dir_ / "nothing.toml", TrustedKind::file);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ENOENT);
  EXPECT_EQ(status.error().describe(),
            "reading " + (dir_ / "nothing.toml").string() + ": No such file or directory");
}

TEST_F(FileTrust, RefusesARelativePath) {
  const auto status = check_trusted("etc/stackmgr.toml", TrustedKind::file);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("not an absolute path"), std::string::npos);
}

TEST_F(FileTrust, RefusesADirectoryWhereAFileIsExpected) {
  fs::create_directories(dir_ / "stackmgr.toml");
  const auto status = check_trusted(dir_ / "stackmgr.toml", TrustedKind::file);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("not a regular file"), std::string::npos);
}

TEST_F(FileTrust, ChecksDirectoriesToo) {
  fs::create_directories(dir_ / "state");
  ASSERT_EQ(chmod((dir_ / "state").c_str(), 0755), 0);
  EXPECT_TRUE(check_trusted(dir_ / "state", TrustedKind::directory).ok());
  ASSERT_EQ(chmod((dir_ / "state").c_str(), 01777), 0);
  const auto status = check_trusted(dir_ / "state", TrustedKind::directory);
  ASSERT_FALSE(status.ok()) << "the checked directory itself gets no sticky-bit exception";
  EXPECT_NE(status.error().message.find("and others (mode 1777)"), std::string::npos)
      << status.error().message;
}

TEST_F(FileTrust, RefusesFilesOverTheSizeLimit) {
  const fs::path file = write("big.toml", std::string(100, 'x'));
  const auto content = read_trusted_file(file, kRootUid, 64);
  ASSERT_FALSE(content.ok());
  EXPECT_EQ(content.error().code, EFBIG);
}

}  // namespace
}  // namespace stackmgr::os
