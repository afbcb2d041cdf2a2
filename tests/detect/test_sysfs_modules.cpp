// detect/sysfs_modules.cpp: /sys/module as the fallback source of loaded-module facts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "detect/sysfs_modules.hpp"
#include "tests/detect/fixture_root.hpp"

namespace {

using testing::ElementsAre;

TEST(ReadSysfsModule, LiveModuleWithRefcountAndHolders) {
  const detect_test::FixtureRoot fixture("clean");
  fixture.write("sys/module/xfrm_algo/initstate", "live\n");
  fixture.write("sys/module/xfrm_algo/refcnt", "2\n");
  fixture.write("sys/module/xfrm_algo/holders/esp4", "");
  fixture.write("sys/module/xfrm_algo/holders/af_key", "");
  const auto module = detect::read_sysfs_module(fixture.host(), "xfrm_algo");
  ASSERT_TRUE(module.has_value());
  EXPECT_EQ(module->state, detect::InitState::live);
  EXPECT_EQ(module->refcnt, 2);
  EXPECT_THAT(module->holders, ElementsAre("af_key", "esp4"));
}

TEST(ReadSysfsModule, GoingAndComingStates) {
  const detect_test::FixtureRoot fixture("clean");
  fixture.write("sys/module/esp4/initstate", "going\n");
  fixture.write("sys/module/ah4/initstate", "coming\n");
  EXPECT_EQ(detect::read_sysfs_module(fixture.host(), "esp4")->state, detect::InitState::going);
  EXPECT_EQ(detect::read_sysfs_module(fixture.host(), "ah4")->state, detect::InitState::coming);
  EXPECT_EQ(detect::read_sysfs_module(fixture.host(), "ah4")->refcnt, -1);
}

TEST(ReadSysfsModule, NotLoadedAndBuiltInHaveNoInitstate) {
  const detect_test::FixtureRoot fixture("clean");
  fixture.write("sys/module/af_key/parameters/.keep", "");
  EXPECT_FALSE(detect::read_sysfs_module(fixture.host(), "esp6").has_value());
  EXPECT_FALSE(detect::read_sysfs_module(fixture.host(), "af_key").has_value());
  EXPECT_TRUE(detect::sysfs_shows_builtin(fixture.host(), "af_key"));
  EXPECT_FALSE(detect::sysfs_shows_builtin(fixture.host(), "ext4"));
  EXPECT_FALSE(detect::sysfs_shows_builtin(fixture.host(), "esp6"));
}

TEST(SysfsModulesVisible, FollowsSysModule) {
  EXPECT_TRUE(detect::sysfs_modules_visible(detect_test::FixtureRoot("clean").host()));
  EXPECT_FALSE(detect::sysfs_modules_visible(detect_test::FixtureRoot("malformed_garbage").host()));
}

}  // namespace
