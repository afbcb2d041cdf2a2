// CachedModuleIndex: one index lookup per module name until forget(), the loaded modules
// always read afresh.
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <string>
#include <vector>

#include "detect/cached_module_index.hpp"

namespace {

class CountingIndex final : public detect::ModuleIndex {
 public:
  [[nodiscard]] detect::Result<std::vector<detect::LoadedModule>> loaded_modules() const override {
    ++loaded_calls;
    return loaded;
  }
  [[nodiscard]] detect::Result<detect::ModuleLookup> lookup(std::string_view name) const override {
    ++lookups[std::string(name)];
    if (name == "broken") return detect::Error{EIO, "looking up broken"};
    detect::ModuleLookup lookup;
    lookup.name = std::string(name);
    lookup.disk = disk;
    return lookup;
  }

  std::vector<detect::LoadedModule> loaded;
  detect::DiskState disk = detect::DiskState::available;
  mutable int loaded_calls = 0;
  mutable std::map<std::string, int> lookups;
};

TEST(CachedModuleIndex, AsksTheIndexOncePerNameAndKeepsItsAnswer) {
  CountingIndex index;
  const detect::CachedModuleIndex cached(index);
  ASSERT_TRUE(cached.lookup("esp4"));
  index.disk = detect::DiskState::absent;  // the index changes; the cache keeps the first answer
  const auto again = cached.lookup("esp4");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->disk, detect::DiskState::available);
  EXPECT_EQ(index.lookups["esp4"], 1);
  ASSERT_TRUE(cached.lookup("ah4"));
  EXPECT_EQ(index.lookups["ah4"], 1);
}

TEST(CachedModuleIndex, KeepsAFailedLookupAsAFailure) {
  CountingIndex index;
  const detect::CachedModuleIndex cached(index);
  EXPECT_FALSE(cached.lookup("broken"));
  const auto again = cached.lookup("broken");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, "looking up broken");
  EXPECT_EQ(index.lookups["broken"], 1);
}

TEST(CachedModuleIndex, ReadsTheLoadedModulesAfreshEveryTime) {
  CountingIndex index;
  const detect::CachedModuleIndex cached(index);
  ASSERT_TRUE(cached.loaded_modules());
  EXPECT_TRUE(cached.loaded_modules()->empty());
  index.loaded.push_back({"af_key", detect::InitState::live, 0, {}});
  const auto now = cached.loaded_modules();
  ASSERT_TRUE(now);
  ASSERT_EQ(now->size(), 1U);
  EXPECT_EQ(now->front().name, "af_key");
  EXPECT_EQ(index.loaded_calls, 3);
}

TEST(CachedModuleIndex, ForgetMakesTheNextLookupAskTheIndexAgain) {
  CountingIndex index;
  detect::CachedModuleIndex cached(index);
  ASSERT_TRUE(cached.lookup("esp4"));
  index.disk = detect::DiskState::absent;
  cached.forget();
  const auto again = cached.lookup("esp4");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->disk, detect::DiskState::absent);
  EXPECT_EQ(index.lookups["esp4"], 2);
}

}  // namespace
