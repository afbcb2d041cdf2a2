// detect/net_devices.cpp: libudev's "net" enumeration and the sysfs listing for fixture roots.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "detect/host.hpp"
#include "tests/detect/fixture_root.hpp"

namespace {

using testing::Contains;
using testing::ElementsAre;

TEST(SysfsNetDevices, ListsTheRootsInterfacesSorted) {
  const detect_test::FixtureRoot fixture("klips_live");
  const auto names = detect::SysfsNetDevices(fixture.host()).interfaces();
  ASSERT_TRUE(names.ok());
  EXPECT_THAT(*names, ElementsAre("eth0", "ipsec0", "lo"));
}

TEST(SysfsNetDevices, MissingSysIsAnError) {
  const auto names = detect::SysfsNetDevices(detect::HostRoot("/nonexistent-root")).interfaces();
  ASSERT_FALSE(names.ok());
  EXPECT_EQ(names.error().code, ENOENT);
}

TEST(UdevNetDevices, FindsThisHostsLoopbackWithoutUdevd) {
  if (!std::filesystem::exists("/sys/class/net/lo")) GTEST_SKIP() << "no /sys/class/net/lo here";
  const auto names = detect::UdevNetDevices().interfaces();
  ASSERT_TRUE(names.ok()) << names.error().describe();
  EXPECT_THAT(*names, Contains("lo"));
}

}  // namespace
