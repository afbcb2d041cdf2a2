#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "detect/resolv_conf.hpp"
#include "tests/detect/temp_tree.hpp"

namespace detect {
namespace {

using ::testing::HasSubstr;
using testing_support::TempTree;

TEST(ResolvConf, ReadsNameserversInOrderWithLines) {
  const auto conf = parse_resolv_conf(
      "# generated\n"
      "; also a comment\n"
      "search example.net\n"
      "nameserver 127.0.0.53 # stub\n"
      "nameserver   2001:db8::53\n"
      "options edns0\n",
      "/etc/resolv.conf");
  EXPECT_TRUE(conf.problems.empty());
  ASSERT_EQ(conf.nameservers.size(), 2u);
  EXPECT_EQ(conf.nameservers[0].address.to_string(), "127.0.0.53");
  EXPECT_TRUE(conf.nameservers[0].address.is_loopback());
  EXPECT_EQ(conf.nameservers[0].where.describe(), "/etc/resolv.conf:4");
  EXPECT_EQ(conf.nameservers[1].address.family, Family::ipv6);
}

TEST(ResolvConf, ReportsBadAddressesAndTheFourthNameserver) {
  const auto conf = parse_resolv_conf(
      "nameserver dns.example.net\n"
      "nameserver\n"
      "nameserver 192.0.2.1\n"
      "nameserver 192.0.2.2\n"
      "nameserver 192.0.2.3\n"
      "nameserver 192.0.2.4\n",
      "/etc/resolv.conf");
  ASSERT_EQ(conf.nameservers.size(), 3u);
  EXPECT_EQ(conf.nameservers[2].address.to_string(), "192.0.2.3");
  ASSERT_EQ(conf.problems.size(), 3u);
  EXPECT_THAT(conf.problems[0].describe(),
              HasSubstr(":1: nameserver 'dns.example.net' is not an IP address"));
  EXPECT_THAT(conf.problems[1].describe(), HasSubstr(":2: nameserver without an address"));
  EXPECT_THAT(conf.problems[2].describe(), HasSubstr(":6: nameserver 192.0.2.4 is ignored"));
}

TEST(ResolvConf, FollowsAnAbsoluteSymlinkInsideTheRoot) {
  TempTree tree;
  tree.write("run/systemd/resolve/stub-resolv.conf", "nameserver 127.0.0.53\n");
  tree.mkdir("etc");
  std::filesystem::create_symlink("/run/systemd/resolve/stub-resolv.conf", tree.path() / "etc/resolv.conf");
  const auto conf = read_resolv_conf(HostRoot(tree.path()));
  EXPECT_TRUE(conf.found);
  EXPECT_EQ(conf.path, "/run/systemd/resolve/stub-resolv.conf");
  ASSERT_EQ(conf.nameservers.size(), 1u);
  EXPECT_EQ(conf.nameservers[0].address.to_string(), "127.0.0.53");
}

TEST(ResolvConf, MissingFileIsNotFoundAndALinkLoopIsAProblem) {
  TempTree tree;
  auto conf = read_resolv_conf(HostRoot(tree.path()));
  EXPECT_FALSE(conf.found);
  EXPECT_TRUE(conf.problems.empty());
  tree.mkdir("etc");
  std::filesystem::create_symlink("resolv.conf", tree.path() / "etc/resolv.conf");
  conf = read_resolv_conf(HostRoot(tree.path()));
  EXPECT_FALSE(conf.found);
  ASSERT_EQ(conf.problems.size(), 1u);
  EXPECT_THAT(conf.problems[0].describe(), HasSubstr("Too many levels of symbolic links"));
}

}  // namespace
}  // namespace detect
