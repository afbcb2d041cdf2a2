#include <gtest/gtest.h>

#include <cerrno>

#include "detect/lan_routes.hpp"
#include "tests/detect/temp_tree.hpp"

namespace detect {
namespace {

constexpr const char* kRoutes =
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"  // default via 192.168.1.1
    "eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n"  // 192.168.1.0/24
    "eth1\t00000A0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"    // 10.10.0.0/16
    "eth1\t00001E0A\t01000A0A\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0\n"    // 10.30.0.0/16 via gateway
    "lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"      // loopback
    "eth2\t0002A8C0\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";   // not up

TEST(LanRoutes, KeepsOnlyDirectlyConnectedSubnetsThatAreUp) {
  const auto routes = parse_lan_routes(kRoutes);
  ASSERT_TRUE(routes.ok()) << routes.error().describe();
  ASSERT_EQ(routes->size(), 2u);
  EXPECT_EQ((*routes)[0].interface, "eth0");
  EXPECT_EQ((*routes)[0].subnet.to_string(), "192.168.1.0/24");
  EXPECT_EQ((*routes)[1].subnet.to_string(), "10.10.0.0/16");
}

TEST(LanRoutes, MalformedLineIsAnErrorNotAnEmptyList) {
  const auto routes = parse_lan_routes("Iface\tDestination\n eth0 zz 00000000 0001 0 0 0 00FFFFFF\n");
  ASSERT_FALSE(routes.ok());
  EXPECT_EQ(routes.error().code, EBADMSG);
  EXPECT_FALSE(parse_lan_routes("header\neth0 00000000\n").ok());
}

TEST(LanRoutes, ReadsUnderTheRoot) {
  testing_support::TempTree tree;
  EXPECT_EQ(read_lan_routes(HostRoot(tree.path())).error().code, ENOENT);
  tree.write("proc/net/route", kRoutes);
  EXPECT_EQ(read_lan_routes(HostRoot(tree.path()))->size(), 2u);
}

}  // namespace
}  // namespace detect
