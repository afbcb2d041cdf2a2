#include <gtest/gtest.h>

#include "detect/ip_subnet.hpp"

namespace detect {
namespace {

TEST(IpAddress, ParsesBothFamiliesAndRejectsNames) {
  const auto v4 = IpAddress::parse("192.0.2.7");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->family, Family::ipv4);
  EXPECT_EQ(v4->to_string(), "192.0.2.7");
  const auto v6 = IpAddress::parse("2001:DB8::1%eth0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->family, Family::ipv6);
  EXPECT_EQ(v6->to_string(), "2001:db8::1");
  EXPECT_FALSE(IpAddress::parse("ns1.example.net"));
  EXPECT_FALSE(IpAddress::parse("192.0.2"));
  EXPECT_FALSE(IpAddress::parse(""));
  EXPECT_FALSE(IpAddress::parse("%defaultroute"));
}

TEST(IpAddress, KnowsLoopback) {
  EXPECT_TRUE(IpAddress::parse("127.0.0.53")->is_loopback());
  EXPECT_TRUE(IpAddress::parse("::1")->is_loopback());
  EXPECT_FALSE(IpAddress::parse("10.0.0.1")->is_loopback());
  EXPECT_FALSE(IpAddress::parse("::2")->is_loopback());
}

TEST(IpSubnet, ParsesPrefixNetmaskAndBareAddress) {
  EXPECT_EQ(IpSubnet::parse("10.1.2.3/8")->to_string(), "10.0.0.0/8");
  EXPECT_EQ(IpSubnet::parse("10.1.2.3/255.255.0.0")->to_string(), "10.1.0.0/16");
  EXPECT_EQ(IpSubnet::parse("192.0.2.1")->to_string(), "192.0.2.1/32");
  EXPECT_EQ(IpSubnet::parse("2001:db8::/32")->to_string(), "2001:db8::/32");
  EXPECT_EQ(IpSubnet::parse("0.0.0.0/0")->to_string(), "0.0.0.0/0");
  EXPECT_FALSE(IpSubnet::parse("10.0.0.0/33"));
  EXPECT_FALSE(IpSubnet::parse("10.0.0.0/255.0.255.0"));  // not contiguous
  EXPECT_FALSE(IpSubnet::parse("2001:db8::/255.0.0.0"));
  EXPECT_FALSE(IpSubnet::parse("10.0.0.0/"));
  EXPECT_FALSE(IpSubnet::parse("10.0.0.0/8x"));
  EXPECT_FALSE(IpSubnet::parse("10.0.0.0-10.0.0.9"));
}

TEST(IpSubnet, MembershipRespectsPrefixAndFamily) {
  const auto lan = *IpSubnet::parse("192.168.1.0/24");
  EXPECT_TRUE(lan.contains(*IpAddress::parse("192.168.1.200")));
  EXPECT_FALSE(lan.contains(*IpAddress::parse("192.168.2.1")));
  EXPECT_FALSE(lan.contains(*IpAddress::parse("::ffff:192.168.1.1")));
  const auto odd = *IpSubnet::parse("10.0.0.0/13");
  EXPECT_TRUE(odd.contains(*IpAddress::parse("10.7.255.255")));
  EXPECT_FALSE(odd.contains(*IpAddress::parse("10.8.0.0")));
  EXPECT_TRUE(IpSubnet::parse("0.0.0.0/0")->contains(*IpAddress::parse("203.0.113.9")));
  EXPECT_TRUE(lan.contains(*IpSubnet::parse("192.168.1.128/25")));
  EXPECT_FALSE(IpSubnet::parse("192.168.1.128/25")->contains(lan));
  EXPECT_TRUE(IpSubnet::parse("192.168.1.128/25")->overlaps(lan));
  EXPECT_FALSE(lan.overlaps(*IpSubnet::parse("192.168.0.0/24")));
}

}  // namespace
}  // namespace detect
