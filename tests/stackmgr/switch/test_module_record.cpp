// The record of what stackmgr loaded: round trip, updates, and distrust of foreign files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "stackmgr/switch/module_record.hpp"

namespace stackmgr::switching {
namespace {

using stackmgr::switching::ModuleRecord;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "stackmgr-record-XXXXXX").string();
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

TEST(ModuleRecord, AMissingRecordIsEmpty) {
  TempDir dir;
  const auto record = switching::ModuleRecord::load(dir.path() / "run/stackmgr/loaded-modules");
  ASSERT_TRUE(record.ok());
  EXPECT_THAT(record->modules(), IsEmpty());
}

TEST(ModuleRecord, SavesPrivatelyAndLoadsBack) {
  TempDir dir;
  const auto path = dir.path() / "run/stackmgr/loaded-modules";
  switching::ModuleRecord record;
  record.apply({"af_key", "esp4", "xfrm_algo"}, {});
  ASSERT_TRUE(record.save(path).ok());
  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600U);
  ASSERT_EQ(::stat(path.parent_path().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0700U);
  const auto loaded = switching::ModuleRecord::load(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_THAT(loaded->modules(), ElementsAre("af_key", "esp4", "xfrm_algo"));
}

TEST(ModuleRecord, ApplyAddsLoadedDropsUnloadedAndKeepOnlyForgetsWhatIsGone) {
  switching::ModuleRecord record;
  record.apply({"af_key", "esp4", "ah4"}, {});
  record.apply({"ipsec"}, {"esp4", "ah4"});
  EXPECT_THAT(record.modules(), ElementsAre("af_key", "ipsec"));
  record.keep_only({"ipsec", "xfrm_algo"});
  EXPECT_THAT(record.modules(), ElementsAre("ipsec"));
}

TEST(ModuleRecord, IgnoresCommentsAndNormalizesDashes) {
  TempDir dir;
  const auto path = dir.path() / "record";
  std::ofstream(path) << "# header\n\naf-key  # trailing\n  esp4\n";
  ::chmod(path.c_str(), 0600);
  const auto record = switching::ModuleRecord::load(path);
  ASSERT_TRUE(record.ok());
  EXPECT_THAT(record->modules(), ElementsAre("af_key", "esp4"));
}

TEST(ModuleRecord, RefusesAnInvalidNameWithItsLine) {
  TempDir dir;
  const auto path = dir.path() / "record";
  std::ofstream(path) << "esp4\n../../etc/passwd\n";
  ::chmod(path.c_str(), 0600);
  const auto record = switching::ModuleRecord::load(path);
  ASSERT_FALSE(record.ok());
  EXPECT_EQ(record.error().code, EINVAL);
  EXPECT_THAT(record.error().message,
              HasSubstr(path.string() + ":2: '../../etc/passwd' is not a valid module name"));
}

TEST(ModuleRecord, RefusesAFileOthersCanWriteOrASymlink) {
  TempDir dir;
  const auto path = dir.path() / "record";
  std::ofstream(path) << "esp4\n";
  ::chmod(path.c_str(), 0666);
  auto record = switching::ModuleRecord::load(path);
  ASSERT_FALSE(record.ok());
  EXPECT_THAT(record.error().message, HasSubstr("refusing to trust the module record"));

  std::filesystem::create_symlink(path, dir.path() / "link");
  record = switching::ModuleRecord::load(dir.path() / "link");
  ASSERT_FALSE(record.ok());
  EXPECT_THAT(record.error().message, HasSubstr("is a symlink"));
}

}  // namespace
}  // namespace stackmgr::switching
