// Atomic state files: whole content or none, exact mode, no symlink games.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "modules/atomic_file.hpp"
#include "tests/modules/temp_dir.hpp"

namespace {

using ::testing::HasSubstr;
using testworld::TempDir;

std::string slurp(const std::filesystem::path& file) {
  std::ostringstream text;
  text << std::ifstream(file).rdbuf();
  return text.str();
}

mode_t mode_of(const std::filesystem::path& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) return 0;
  return info.st_mode & 07777;
}

TEST(AtomicFile, WritesAndReplacesWithTheExactMode) {
  TempDir dir;
  const auto file = dir.path() / "record";
  ASSERT_TRUE(modules::write_file_atomically(file, "one\n", 0600).ok());
  EXPECT_EQ(slurp(file), "one\n");
  EXPECT_EQ(mode_of(file), 0600U);
  ASSERT_TRUE(modules::write_file_atomically(file, "two\n", 0640).ok());
  EXPECT_EQ(slurp(file), "two\n");
  EXPECT_EQ(mode_of(file), 0640U);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(AtomicFile, ReplacesASymlinkInsteadOfWritingThroughIt) {
  TempDir dir;
  const auto target = dir.path() / "target";
  std::ofstream(target) << "keep\n";
  std::filesystem::create_symlink(target, dir.path() / "link");
  ASSERT_TRUE(modules::write_file_atomically(dir.path() / "link", "new\n", 0600).ok());
  EXPECT_EQ(slurp(target), "keep\n");
  EXPECT_FALSE(std::filesystem::is_symlink(dir.path() / "link"));
}

TEST(AtomicFile, FailsClearlyWhenTheDirectoryIsMissing) {
  TempDir dir;
  const detect::Status status = modules::write_file_atomically(dir.path() / "no/such/file", "x", 0600);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, ENOENT);
  EXPECT_THAT(status.error().describe(), HasSubstr("opening directory"));
}

TEST(AtomicFile, RemoveIsDurableAndIdempotent) {
  TempDir dir;
  const auto file = dir.path() / "f";
  ASSERT_TRUE(modules::write_file_atomically(file, "x", 0600).ok());
  EXPECT_TRUE(modules::remove_file_durably(file).ok());
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_TRUE(modules::remove_file_durably(file).ok());
}

// A writer killed (or a power cut) between creating its temporary file and renaming it leaves
// the file behind; the next write into that directory removes it, and only such files.
TEST(AtomicFile, RemovesTemporaryFilesThatDeadWritersLeftBehind) {
  TempDir dir;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // reaped: its pid names no process now
  const std::string dead = std::to_string(child);
  const std::string alive = std::to_string(::getpid());
  const std::vector<std::string> names{".journal.tmp." + dead + ".12345",
                                       ".stack.tmp." + dead + ".9",
                                       ".journal.tmp." + alive + ".777",
                                       ".journal.tmp.notapid.1",
                                       ".hidden",
                                       "journal.tmp." + dead + ".1"};
  for (const std::string& name : names) {
    std::ofstream(dir.path() / name) << "x";
  }
  // Older than this boot: stale whoever has that pid now.
  const auto old = dir.path() / (".stack.tmp." + alive + ".5");
  std::ofstream(old) << "x";
  const timespec times[2] = {{0, UTIME_OMIT}, {1000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, old.c_str(), times, 0), 0);

  ASSERT_TRUE(modules::write_file_atomically(dir.path() / "journal", "{}\n", 0600).ok());
  std::vector<std::string> left;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    left.push_back(entry.path().filename().string());
  EXPECT_THAT(left, ::testing::UnorderedElementsAre("journal", ".journal.tmp." + alive + ".777",
                                                    ".journal.tmp.notapid.1", ".hidden",
                                                    "journal.tmp." + dead + ".1"));
}

TEST(EnsureDirectory, CreatesParentsWithTheModeAndRefusesSymlinksAndFiles) {
  TempDir dir;
  const auto nested = dir.path() / "run/stackmgr";
  ASSERT_TRUE(modules::ensure_directory(nested, 0700).ok());
  EXPECT_EQ(mode_of(nested), 0700U);
  EXPECT_TRUE(modules::ensure_directory(nested, 0700).ok());

  std::filesystem::create_directory_symlink(nested, dir.path() / "link");
  EXPECT_EQ(modules::ensure_directory(dir.path() / "link", 0700).error().code, ELOOP);
  std::ofstream(dir.path() / "file") << "x";
  EXPECT_EQ(modules::ensure_directory(dir.path() / "file", 0700).error().code, ENOTDIR);
}

TEST(EnsureDirectory, OnARootWithoutVarLibMakesEveryParentAndNamesThePathWhenItCannot) {
  TempDir dir;
  const auto state = dir.path() / "var/lib/stackmgr";
  ASSERT_TRUE(modules::ensure_directory(state, 0755).ok());
  EXPECT_EQ(mode_of(dir.path() / "var"), 0755U);
  EXPECT_EQ(mode_of(dir.path() / "var/lib"), 0755U);
  EXPECT_EQ(mode_of(state), 0755U);

  std::ofstream(dir.path() / "opt") << "a file where a directory should be";
  const auto refused = modules::ensure_directory(dir.path() / "opt/lib/stackmgr", 0755);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ENOTDIR);
  EXPECT_NE(refused.error().describe().find((dir.path() / "opt/lib/stackmgr").string()), std::string::npos)
      << refused.error().describe();
}

TEST(EnsureDirectory, NeverChangesTheModeOfADirectoryItDidNotMake) {
  TempDir dir;
  const auto shared = dir.path() / "shared";
  std::filesystem::create_directory(shared);
  ::chmod(shared.c_str(), 0751);
  ASSERT_TRUE(modules::ensure_directory(shared, 0700).ok());
  EXPECT_EQ(mode_of(shared), 0751U);
}

}  // namespace
