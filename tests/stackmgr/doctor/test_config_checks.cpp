#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stackmgr/doctor/checks.hpp"
#include "tests/stackmgr/doctor/doctor_fixture.hpp"

namespace stackmgr::doctor {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace doctor_fixture;

TEST(DoctorConfigFiles, CleanFilesAreOkAndSayWhatWasRead) {
  const auto inputs = native_host();
  const auto result = check_config_files(inputs);
  EXPECT_EQ(result.level, Level::ok);
  EXPECT_THAT(result.reason, HasSubstr("/etc/ipsec.conf (1 file, 0 conns)"));
  EXPECT_THAT(result.reason, HasSubstr("/etc/resolv.conf (1 nameserver)"));
}

TEST(DoctorConfigFiles, ParseProblemsWarnWithFileAndLine) {
  auto inputs = native_host();
  inputs.ipsec_conf = conf("conn a\nleft=192.0.2.1\n");
  inputs.resolv = detect::parse_resolv_conf("nameserver dns.example\n", "/etc/resolv.conf");
  const auto result = check_config_files(inputs);
  EXPECT_EQ(result.level, Level::warn);
  EXPECT_THAT(result.reason, HasSubstr("/etc/ipsec.conf:2: parameter 'left=192.0.2.1' is not indented"));
  EXPECT_THAT(result.reason, HasSubstr("/etc/resolv.conf:1: nameserver 'dns.example' is not an IP address"));
  EXPECT_FALSE(result.fix.empty());
}

TEST(DoctorIpcomp, CompressYesOnNativeFailsNamingEveryConnAndTheLineToChange) {
  auto inputs = native_host();
  inputs.ipsec_conf = conf(
      "conn %default\n"
      "\tcompress=yes\n"
      "conn a\n"
      "\tauto=start\n"
      "conn b\n"
      "\tcompress=no\n");
  const auto result = check_ipcomp_native(inputs, target_stack(inputs));
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason, HasSubstr("extra IPIP header"));
  EXPECT_THAT(result.reason, HasSubstr("conn a (compress=yes at /etc/ipsec.conf:2)"));
  EXPECT_THAT(result.reason, Not(HasSubstr("conn b")));
  EXPECT_THAT(result.fix, HasSubstr("set compress=no at /etc/ipsec.conf:2"));
}

TEST(DoctorIpcomp, LoadedIpcompModuleOnNativeFails) {
  auto inputs = native_host();
  module(inputs.snapshot, "ipcomp").state = detect::ModuleState::live;
  const auto result = check_ipcomp_native(inputs, target_stack(inputs));
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason, HasSubstr("Loaded: ipcomp"));
  EXPECT_THAT(result.fix, HasSubstr("modprobe -r ipcomp"));
}

TEST(DoctorIpcomp, NativeWithoutCompressionPasses) {
  auto inputs = native_host();
  inputs.ipsec_conf = conf("conn a\n\tcompress=no\n\tauto=add\n");
  EXPECT_EQ(check_ipcomp_native(inputs, target_stack(inputs)).level, Level::ok);
}

TEST(DoctorIpcomp, KlipsWithCompressionPasses) {
  auto inputs = klips_host();
  inputs.ipsec_conf = conf("conn a\n\tcompress=yes\n");
  const auto result = check_ipcomp_native(inputs, target_stack(inputs));
  EXPECT_EQ(result.level, Level::ok);
  EXPECT_THAT(result.reason, HasSubstr("KLIPS"));
}

TEST(DoctorIpv6, FreeswanParserWithIpv6AddressesWarnsWithEachLocation) {
  auto inputs = native_host();
  inputs.ipsec_conf = conf(
      "config setup\n"
      "\tvirtual_private=%v4:10.0.0.0/8,%v6:fd00::/8\n"
      "conn v6\n"
      "\tleft=2001:db8::1\n"
      "\tleftsubnets={2001:db8:1::/64 10.1.0.0/16}\n"
      "\tright=192.0.2.9\n");
  const auto result = check_ipv6_parser(inputs);
  EXPECT_EQ(result.level, Level::warn);
  EXPECT_THAT(result.reason, HasSubstr("FreeS/WAN 2.06 (from /usr/local/sbin/ipsec)"));
  EXPECT_THAT(result.reason, HasSubstr("virtual_private=fd00::/8 at /etc/ipsec.conf:2"));
  EXPECT_THAT(result.reason, HasSubstr("left=2001:db8::1 at /etc/ipsec.conf:4"));
  EXPECT_THAT(result.reason, HasSubstr("leftsubnets=2001:db8:1::/64 at /etc/ipsec.conf:5"));
  EXPECT_THAT(result.reason, Not(HasSubstr("192.0.2.9")));
  EXPECT_THAT(result.fix, HasSubstr("ipsec whack"));
}

TEST(DoctorIpv6, Ipv4OnlyConfigPasses) {
  auto inputs = native_host();
  inputs.ipsec_conf = conf("conn a\n\tleft=192.0.2.1\n\tleftid=@host:x\n\tright=%defaultroute\n");
  EXPECT_EQ(check_ipv6_parser(inputs).level, Level::ok);
}

TEST(DoctorIpv6, DaemonWhoseParserReadsIpv6Passes) {
  auto inputs = native_host();
  inputs.daemon_traits = {"Libreswan", "4.10", ParserIpv6::supported, false, "/usr/sbin/ipsec"};
  inputs.ipsec_conf = conf("conn v6\n\tleft=2001:db8::1\n");
  const auto result = check_ipv6_parser(inputs);
  EXPECT_EQ(result.level, Level::ok);
  EXPECT_THAT(result.reason, HasSubstr("Libreswan 4.10"));
}

TEST(DoctorIpv6, UnknownDaemonPassesButSaysHowToCheckAsFreeswan) {
  auto inputs = native_host();
  inputs.daemon_traits = DaemonTraits{};
  inputs.ipsec_conf = conf("conn v6\n\tleft=2001:db8::1\n");
  const auto result = check_ipv6_parser(inputs);
  EXPECT_EQ(result.level, Level::ok);
  EXPECT_THAT(result.reason, HasSubstr("--daemon-ipv6=no"));
}

}  // namespace
}  // namespace stackmgr::doctor

namespace stackmgr::doctor {
namespace {

TEST(DoctorConfigFiles, UnloadableStackmgrConfigFails) {
  auto inputs = doctor_fixture::native_host();
  inputs.stackmgr_config_error = "/etc/stackmgr/stackmgr.toml:3: key stack: unknown stack 'foo'";
  const auto result = check_config_files(inputs);
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason, ::testing::HasSubstr("refuses to start: /etc/stackmgr/stackmgr.toml:3"));
}

}  // namespace
}  // namespace stackmgr::doctor
