// Capability names through libcap: what the config's daemon.drop_capabilities accepts.
#include <gtest/gtest.h>
#include <linux/capability.h>

#include "stackmgr/os/capabilities.hpp"

namespace stackmgr::os {
namespace {

TEST(CapabilityFromName, KnowsTheNamesOfCapabilities7InAnyCase) {
  EXPECT_EQ(capability_from_name("CAP_SYS_MODULE"), CAP_SYS_MODULE);
  EXPECT_EQ(capability_from_name("cap_sys_module"), CAP_SYS_MODULE);
  EXPECT_EQ(capability_from_name("CAP_NET_ADMIN"), CAP_NET_ADMIN);
  EXPECT_EQ(capability_from_name("CAP_SYS_BOOT"), CAP_SYS_BOOT);
}

TEST(CapabilityFromName, RefusesAnythingButOneWholeName) {
  EXPECT_FALSE(capability_from_name("CAP_SYS_MODULES"));
  EXPECT_FALSE(capability_from_name("SYS_MODULE")) << "the CAP_ prefix is part of the name";
  EXPECT_FALSE(capability_from_name("16")) << "a number is not a name";
  EXPECT_FALSE(capability_from_name("cap_16"));
  EXPECT_FALSE(capability_from_name("CAP_SYS_MODULE,CAP_KILL")) << "libcap stops at the comma";
  EXPECT_FALSE(capability_from_name("CAP_SYS_MODULE+ep"));
  EXPECT_FALSE(capability_from_name("CAP_SYS_MODULE "));
  EXPECT_FALSE(capability_from_name(std::string_view("CAP_KILL\0x", 10)));
  EXPECT_FALSE(capability_from_name("all"));
  EXPECT_FALSE(capability_from_name(""));
  EXPECT_FALSE(capability_from_name("CAP_"));
}

TEST(CapabilityName, IsTheUpperCaseName) {
  EXPECT_EQ(capability_name(CAP_SYS_MODULE), "CAP_SYS_MODULE");
  EXPECT_EQ(capability_name(CAP_SETPCAP), "CAP_SETPCAP");
}

}  // namespace
}  // namespace stackmgr::os
