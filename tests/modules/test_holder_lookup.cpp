// Finding the processes that hold PF_KEY sockets, on a fixture /proc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "modules/holder_lookup.hpp"
#include "tests/modules/temp_dir.hpp"

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testworld::TempDir;

void write(const std::filesystem::path& file, const std::string& text) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

void fd_link(const std::filesystem::path& root, int pid, int fd, const std::string& target) {
  const auto dir = root / ("proc/" + std::to_string(pid) + "/fd");
  std::filesystem::create_directories(dir);
  std::filesystem::create_symlink(target, dir / std::to_string(fd));
}

// af_key's own format (pfkey_seq_show): a header, then sk refcnt rmem wmem uid inode.
constexpr const char* kPfkey =
    "sk       RefCnt Rmem   Wmem   User   Inode\n"
    "0000000000000000 2      0      0      0      4567  \n"
    "0000000000000000 2      0      0      0      8910  \n";

TEST(ParsePfkeyInodes, ReadsTheLastColumnAndSkipsTheHeaderAndGarbage) {
  EXPECT_THAT(modules::parse_pfkey_inodes(kPfkey), ElementsAre(4567UL, 8910UL));
  EXPECT_THAT(modules::parse_pfkey_inodes("garbage\n1 2 3\n0 1 0 0 0 x\n"), IsEmpty());
}

TEST(ProcHolderLookup, NamesTheProcessesWithAPfkeySocketOpen) {
  TempDir root;
  write(root.path() / "proc/net/pfkey", kPfkey);
  fd_link(root.path(), 345, 7, "socket:[4567]");
  write(root.path() / "proc/345/comm", "pluto\n");
  fd_link(root.path(), 400, 3, "socket:[8910]");  // no comm: still named by pid
  fd_link(root.path(), 500, 3, "socket:[1111]");  // another socket
  fd_link(root.path(), 600, 0, "/dev/null");
  const modules::ProcHolderLookup lookup{detect::HostRoot(root.path())};
  const auto holders = lookup.holders_of("af_key");
  ASSERT_EQ(holders.size(), 2U);
  EXPECT_EQ(holders[0].pid, 345);
  EXPECT_EQ(holders[0].command, "pluto");
  EXPECT_EQ(holders[1].pid, 400);
  EXPECT_EQ(modules::describe_holders(holders), "pid 345 (pluto), pid 400 through a PF_KEY socket");
}

TEST(ProcHolderLookup, FindsNothingWithoutPfkeyOrForOtherModules) {
  TempDir root;
  fd_link(root.path(), 345, 7, "socket:[4567]");
  const modules::ProcHolderLookup lookup{detect::HostRoot(root.path())};
  EXPECT_THAT(lookup.holders_of("af_key"), IsEmpty());
  write(root.path() / "proc/net/pfkey", kPfkey);
  EXPECT_THAT(lookup.holders_of("esp4"), IsEmpty());
  EXPECT_EQ(modules::describe_holders({}), "");
}

}  // namespace
