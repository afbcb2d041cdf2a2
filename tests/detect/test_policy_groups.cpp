#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "detect/policy_groups.hpp"
#include "tests/detect/temp_tree.hpp"

namespace detect {
namespace {

using ::testing::HasSubstr;
using testing_support::TempTree;

TEST(PolicyGroups, ParsesAddressesSubnetsNamesAndComments) {
  std::vector<ConfProblem> problems;
  const auto group = parse_policy_group("clear",
                                        "# This file defines the set of CIDRs ...\n"
                                        "192.0.2.192   # upstream nameserver\n"
                                        "10.0.0.0/8\n"
                                        "\n"
                                        "ns.example.net\n"
                                        "2001:db8::/48\n"
                                        "10.0.0.1-10.0.0.9\n",
                                        "/etc/ipsec.d/policies/clear", problems);
  ASSERT_EQ(group.entries.size(), 3u);
  EXPECT_EQ(group.entries[0].subnet.to_string(), "192.0.2.192/32");
  EXPECT_EQ(group.entries[0].where.describe(), "/etc/ipsec.d/policies/clear:2");
  ASSERT_EQ(group.names.size(), 1u);
  EXPECT_EQ(group.names[0].value, "ns.example.net");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0].describe(), HasSubstr(":7: '10.0.0.1-10.0.0.9' is neither an address"));
  EXPECT_FALSE(group.empty());
}

TEST(PolicyGroups, MembershipFindsTheCoveringEntry) {
  std::vector<ConfProblem> problems;
  const auto group = parse_policy_group("clear", "192.0.2.0/24\n10.0.0.0/8\n", "/p/clear", problems);
  const PolicyEntry* entry = group.covering(*IpAddress::parse("10.9.8.7"));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->where.line, 2);
  EXPECT_EQ(group.covering(*IpAddress::parse("198.51.100.1")), nullptr);
  EXPECT_EQ(group.covering(*IpAddress::parse("2001:db8::1")), nullptr);
}

TEST(PolicyGroups, LibreswanNarrowingIsKeptAndDoesNotCountAsFullCoverage) {
  std::vector<ConfProblem> problems;
  const auto group = parse_policy_group("clear", "0.0.0.0/0  tcp  22  0\n192.0.2.53\n", "/p/clear", problems);
  EXPECT_TRUE(problems.empty());
  ASSERT_EQ(group.entries.size(), 2u);
  EXPECT_EQ(group.entries[0].narrowing, "tcp 22 0");
  EXPECT_EQ(group.covering(*IpAddress::parse("198.51.100.1")), nullptr);  // only its ssh is clear
  ASSERT_NE(group.covering(*IpAddress::parse("192.0.2.53")), nullptr);
  EXPECT_EQ(group.covering(*IpAddress::parse("192.0.2.53"))->where.line, 2);
}

TEST(PolicyGroups, ReadsAllFiveMissingOnesAreEmpty) {
  TempTree tree;
  tree.write("etc/ipsec.d/policies/private-or-clear", "0.0.0.0/0\n");
  tree.write("etc/ipsec.d/policies/clear", "# nothing yet\n");
  tree.mkdir("etc/ipsec.d/policies/block");  // unreadable: a directory
  const auto groups = read_policy_groups(HostRoot(tree.path()));
  ASSERT_EQ(groups.groups.size(), 5u);
  EXPECT_EQ(groups.groups[0].name, "clear");
  EXPECT_TRUE(groups.group("clear")->found);
  EXPECT_TRUE(groups.group("clear")->empty());
  EXPECT_FALSE(groups.group("private")->found);
  EXPECT_TRUE(groups.group("private-or-clear")->covering(*IpAddress::parse("203.0.113.5")));
  EXPECT_EQ(groups.group("nonsense"), nullptr);
  ASSERT_EQ(groups.problems.size(), 1u);
  EXPECT_THAT(groups.problems[0].describe(), HasSubstr("/etc/ipsec.d/policies/block: cannot read it"));
}

}  // namespace
}  // namespace detect
