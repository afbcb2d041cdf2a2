#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stackmgr/doctor/checks.hpp"
#include "tests/stackmgr/doctor/doctor_fixture.hpp"

namespace stackmgr::doctor {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace doctor_fixture;

constexpr const char* kExcludeLo =
    "conn exclude-lo\n"
    "\tauthby=never\n"
    "\tleft=127.0.0.1\n"
    "\tleftsubnet=127.0.0.0/8\n"
    "\tright=127.0.0.2\n"
    "\trightsubnet=127.0.0.0/8\n"
    "\ttype=passthrough\n"
    "\tauto=route\n";

OeState oe_of(const DoctorInputs& inputs) {
  return find_oe(inputs.ipsec_conf, inputs.policies, inputs.daemon_traits);
}

TEST(DoctorFindOe, FreeswanPolicyGroupWithEntriesTurnsOeOn) {
  auto inputs = native_host();
  turn_on_oe(inputs);
  const OeState oe = oe_of(inputs);
  EXPECT_TRUE(oe.on);
  ASSERT_EQ(oe.reasons.size(), 1u);
  EXPECT_EQ(oe.reasons[0],
            "policy group private-or-clear lists 0.0.0.0/0 (/etc/ipsec.d/policies/private-or-clear:2)");
}

TEST(DoctorFindOe, EmptyGroupsOrAnIgnoredGroupConnLeaveOeOff) {
  auto inputs = native_host();
  inputs.policies = groups({{"private-or-clear", "# 0.0.0.0/0\n"}});
  EXPECT_FALSE(oe_of(inputs).on);
  turn_on_oe(inputs);
  inputs.ipsec_conf = conf("conn private-or-clear\n\tauto=ignore\n");
  EXPECT_FALSE(oe_of(inputs).on);
}

TEST(DoctorFindOe, LibreswanNeedsTheGroupConnWrittenOut) {
  auto inputs = native_host();
  turn_on_oe(inputs);
  inputs.daemon_traits.implicit_policy_conns = false;
  EXPECT_FALSE(oe_of(inputs).on);
  inputs.ipsec_conf = conf("conn private-or-clear\n\tright=%opportunisticgroup\n\tauto=ondemand\n");
  EXPECT_TRUE(oe_of(inputs).on);
}

TEST(DoctorFindOe, OpportunisticConnInitiatesWhenRoutedAndOnlyRespondsWhenAdded) {
  auto inputs = native_host();
  inputs.ipsec_conf = conf("conn oe\n\tleft=%defaultroute\n\tright=%opportunistic\n\tauto=route\n");
  OeState oe = oe_of(inputs);
  EXPECT_TRUE(oe.on);
  EXPECT_TRUE(oe.covers_everything);
  EXPECT_THAT(oe.reasons[0],
              HasSubstr("conn oe (/etc/ipsec.conf:1) has right=%opportunistic and auto=route"));
  inputs.ipsec_conf = conf("conn oe\n\tleft=%defaultroute\n\tright=%opportunistic\n\tauto=add\n");
  oe = oe_of(inputs);
  EXPECT_FALSE(oe.on);
  EXPECT_TRUE(oe.responder);
}

TEST(DoctorFindOe, ClearOrPrivateOnlyResponds) {
  auto inputs = native_host();
  inputs.policies = groups({{"clear-or-private", "0.0.0.0/0\n"}});
  const OeState oe = oe_of(inputs);
  EXPECT_FALSE(oe.on);
  EXPECT_TRUE(oe.responder);
}

TEST(DoctorLocalNameserver, OeWithLocalNameserverAndNoExcludeLoFailsShowingTheConn) {
  auto inputs = native_host();
  turn_on_oe(inputs);
  inputs.resolv =
      detect::parse_resolv_conf("nameserver 127.0.0.1\nnameserver 192.0.2.53\n", "/etc/resolv.conf");
  const auto result = check_oe_local_nameserver(inputs, oe_of(inputs));
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason, HasSubstr("local nameserver 127.0.0.1 (/etc/resolv.conf:1)"));
  EXPECT_THAT(result.reason, HasSubstr("loopback"));
  EXPECT_THAT(result.fix,
              HasSubstr(std::string("to /etc/ipsec.conf and restart the keying daemon:\n\n") + kExcludeLo));
}

TEST(DoctorLocalNameserver, ExcludeLoPasses) {
  auto inputs = native_host();
  turn_on_oe(inputs);
  inputs.resolv = detect::parse_resolv_conf("nameserver 127.0.0.53\n", "/etc/resolv.conf");
  inputs.ipsec_conf = conf(kExcludeLo);
  const auto result = check_oe_local_nameserver(inputs, oe_of(inputs));
  EXPECT_EQ(result.level, Level::ok);
  EXPECT_THAT(result.reason,
              HasSubstr("127.0.0.53 (/etc/resolv.conf:1) by conn exclude-lo (/etc/ipsec.conf:1)"));
}

TEST(DoctorLocalNameserver, PassthroughThatIsNotRoutedStillFailsAndIsNamed) {
  auto inputs = native_host();
  turn_on_oe(inputs);
  inputs.resolv = detect::parse_resolv_conf("nameserver 127.0.0.1\n", "/etc/resolv.conf");
  std::string text = kExcludeLo;
  text.replace(text.find("auto=route"), 10, "auto=add");
  inputs.ipsec_conf = conf(text);
  const auto result = check_oe_local_nameserver(inputs, oe_of(inputs));
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason, HasSubstr("conn exclude-lo (/etc/ipsec.conf:1) has auto=add"));
}

TEST(DoctorLocalNameserver, Ipv6LoopbackNameserverGetsTheResolverAdvice) {
  auto inputs = native_host();
  turn_on_oe(inputs);
  inputs.resolv = detect::parse_resolv_conf("nameserver ::1\n", "/etc/resolv.conf");
  const auto result = check_oe_local_nameserver(inputs, oe_of(inputs));
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.fix, HasSubstr("listen on 127.0.0.1"));
}

TEST(DoctorLocalNameserver, NoOeOrNoLocalNameserverPasses) {
  auto inputs = native_host();
  inputs.resolv = detect::parse_resolv_conf("nameserver 127.0.0.1\n", "/etc/resolv.conf");
  EXPECT_EQ(check_oe_local_nameserver(inputs, oe_of(inputs)).level, Level::ok);
  turn_on_oe(inputs);
  inputs.resolv = detect::parse_resolv_conf("nameserver 192.0.2.53\n", "/etc/resolv.conf");
  EXPECT_EQ(check_oe_local_nameserver(inputs, oe_of(inputs)).level, Level::ok);
}

TEST(DoctorDnsClear, NameserversMissingFromClearWarnListingThemAndTheFile) {
  auto inputs = native_host();
  turn_on_oe(inputs);
  inputs.resolv = detect::parse_resolv_conf(
      "nameserver 192.0.2.53\nnameserver 198.51.100.53\nnameserver 127.0.0.1\n", "/etc/resolv.conf");
  inputs.policies = groups({{"private-or-clear", "0.0.0.0/0\n"}, {"clear", "198.51.100.0/24\n"}});
  const auto result = check_oe_dns_clear(inputs, oe_of(inputs));
  EXPECT_EQ(result.level, Level::warn);
  EXPECT_THAT(result.reason, HasSubstr("192.0.2.53 (/etc/resolv.conf:1)"));
  EXPECT_THAT(result.reason, Not(HasSubstr("198.51.100.53")));
  EXPECT_THAT(result.reason, Not(HasSubstr("127.0.0.1")));
  EXPECT_THAT(result.fix,
              HasSubstr("Add them to /etc/ipsec.d/policies/clear, one per line:\n\n192.0.2.53\n"));
  EXPECT_THAT(result.fix, HasSubstr("ipsec auto --rereadgroups"));
}

TEST(DoctorDnsClear, NameserversInClearPass) {
  auto inputs = native_host();
  inputs.resolv = detect::parse_resolv_conf("nameserver 192.0.2.53\n", "/etc/resolv.conf");
  inputs.policies = groups({{"private-or-clear", "0.0.0.0/0\n"}, {"clear", "192.0.2.53  # upstream\n"}});
  const auto result = check_oe_dns_clear(inputs, oe_of(inputs));
  EXPECT_EQ(result.level, Level::ok);
  EXPECT_THAT(result.reason, HasSubstr("192.0.2.53 (clear: /etc/ipsec.d/policies/clear:1)"));
}

TEST(DoctorDnsClear, NarrowedClearEntryDoesNotExemptTheServer) {
  auto inputs = native_host();
  inputs.policies = groups({{"private-or-clear", "0.0.0.0/0\n"}, {"clear", "192.0.2.53 tcp 0 22\n"}});
  EXPECT_EQ(check_oe_dns_clear(inputs, oe_of(inputs)).level, Level::warn);
}

TEST(DoctorDnsClear, OeOffPasses) {
  const auto inputs = native_host();
  EXPECT_EQ(check_oe_dns_clear(inputs, oe_of(inputs)).level, Level::ok);
}

TEST(DoctorAsymmetricRouting, NativeOeCoveringTheLanWithoutClearPolicyWarns) {
  auto inputs = native_host();
  turn_on_oe(inputs);
  const auto result = check_oe_asymmetric_routing(inputs, oe_of(inputs), target_stack(inputs));
  EXPECT_EQ(result.level, Level::warn);
  EXPECT_THAT(result.reason, HasSubstr("192.168.1.0/24 (eth0) through private-or-clear 0.0.0.0/0"));
  EXPECT_THAT(result.reason, HasSubstr("asymmetric"));
  EXPECT_THAT(result.fix, HasSubstr("/etc/ipsec.d/policies/clear"));
}

TEST(DoctorAsymmetricRouting, ClearPolicyInsideTheLanPasses) {
  auto inputs = native_host();
  inputs.policies = groups({{"private-or-clear", "0.0.0.0/0\n"}, {"clear", "192.168.1.20\n"}});
  const auto result = check_oe_asymmetric_routing(inputs, oe_of(inputs), target_stack(inputs));
  EXPECT_EQ(result.level, Level::ok);
  EXPECT_THAT(result.reason, HasSubstr("clear policy for 192.168.1.20/32"));
}

TEST(DoctorAsymmetricRouting, OeNotCoveringTheLanPasses) {
  auto inputs = native_host();
  inputs.policies = groups({{"private", "203.0.113.0/24\n"}});
  const auto result = check_oe_asymmetric_routing(inputs, oe_of(inputs), target_stack(inputs));
  EXPECT_EQ(result.level, Level::ok);
  EXPECT_THAT(result.reason, HasSubstr("no OE policy covers it"));
}

TEST(DoctorAsymmetricRouting, KlipsPassesAndUnreadableRoutesWarn) {
  auto inputs = klips_host();
  turn_on_oe(inputs);
  EXPECT_EQ(check_oe_asymmetric_routing(inputs, oe_of(inputs), target_stack(inputs)).level, Level::ok);
  inputs = native_host();
  turn_on_oe(inputs);
  inputs.lan_routes = detect::Error{2, "reading /proc/net/route"};
  const auto result = check_oe_asymmetric_routing(inputs, oe_of(inputs), target_stack(inputs));
  EXPECT_EQ(result.level, Level::warn);
  EXPECT_THAT(result.reason,
              HasSubstr("could not be read (reading /proc/net/route: No such file or directory)"));
}

}  // namespace
}  // namespace stackmgr::doctor
