#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "stackmgr/doctor/inputs.hpp"
#include "tests/detect/temp_tree.hpp"

namespace stackmgr::doctor {
namespace {

using ::testing::HasSubstr;
using testing_support::TempTree;

TEST(DoctorDaemonStatus, LiveSupervisorMeansRunning) {
  TempTree tree;
  tree.write("run/stackmgr/stackmgr.pid", "812\n");
  tree.write("proc/812/comm", "stackmgr\n");
  const auto status =
      daemon_status_from_pid_files(detect::HostRoot(tree.path()), "/run/stackmgr/stackmgr.pid");
  EXPECT_EQ(status.state, DaemonState::running);
  EXPECT_THAT(status.detail, HasSubstr("pid 812 in /run/stackmgr/stackmgr.pid is stackmgr"));
}

TEST(DoctorDaemonStatus, StalePidFileOrReusedPidMeansNotRunning) {
  TempTree tree;
  tree.write("run/stackmgr/stackmgr.pid", "812\n");
  auto status = daemon_status_from_pid_files(detect::HostRoot(tree.path()), "/run/stackmgr/stackmgr.pid");
  EXPECT_EQ(status.state, DaemonState::not_running);
  EXPECT_THAT(status.detail, HasSubstr("pid 812 in /run/stackmgr/stackmgr.pid is gone: a stale pid file"));
  tree.write("proc/812/comm", "bash\n");
  status = daemon_status_from_pid_files(detect::HostRoot(tree.path()), "/run/stackmgr/stackmgr.pid");
  EXPECT_EQ(status.state, DaemonState::not_running);
  EXPECT_THAT(status.detail, HasSubstr("is 'bash', not stackmgr"));
  tree.write("run/stackmgr/stackmgr.pid", "garbage");
  status = daemon_status_from_pid_files(detect::HostRoot(tree.path()), "/run/stackmgr/stackmgr.pid");
  EXPECT_THAT(status.detail, HasSubstr("does not hold a process id"));
}

TEST(DoctorDaemonStatus, UnsupervisedPlutoCountsAsRunning) {
  TempTree tree;
  tree.write("var/run/pluto.pid", "77\n");
  tree.write("proc/77/comm", "pluto\n");
  const auto status =
      daemon_status_from_pid_files(detect::HostRoot(tree.path()), "/run/stackmgr/stackmgr.pid");
  EXPECT_EQ(status.state, DaemonState::running);
  EXPECT_THAT(status.detail, HasSubstr("not supervised: pid 77 in /var/run/pluto.pid is pluto"));
}

TEST(DoctorDaemonStatus, NoPidFilesMeansNotRunning) {
  TempTree tree;
  const auto status =
      daemon_status_from_pid_files(detect::HostRoot(tree.path()), "/run/stackmgr/stackmgr.pid");
  EXPECT_EQ(status.state, DaemonState::not_running);
  EXPECT_EQ(status.detail, "no /run/stackmgr/stackmgr.pid");
}

TEST(DoctorDaemonTraits, ClassifiesTheIpsecScript) {
  auto traits = classify_ipsec_script("#! /bin/sh\n# Linux FreeS/WAN\nIPSEC_VERSION=\"2.06\"\n",
                                      "/usr/local/sbin/ipsec");
  EXPECT_EQ(traits.product, "FreeS/WAN");
  EXPECT_EQ(traits.version, "2.06");
  EXPECT_EQ(traits.parser_ipv6, ParserIpv6::unsupported);
  EXPECT_TRUE(traits.implicit_policy_conns);
  traits = classify_ipsec_script(
      "# derived from FreeS/WAN\nexport IPSEC_VERSION=\"4.10\"\necho \"Libreswan ${IPSEC_VERSION}\"\n",
      "/usr/sbin/ipsec");
  EXPECT_EQ(traits.product, "Libreswan");
  EXPECT_EQ(traits.version, "4.10");
  EXPECT_EQ(traits.parser_ipv6, ParserIpv6::supported);
  EXPECT_FALSE(traits.implicit_policy_conns);
  traits = classify_ipsec_script("#!/bin/sh\necho hello\n", "/usr/sbin/ipsec");
  EXPECT_EQ(traits.product, "");
  EXPECT_EQ(traits.parser_ipv6, ParserIpv6::unknown);
}

TEST(DoctorDaemonTraits, IdentifiesTheInstalledLibreswanOnThisMachine) {
  if (!std::filesystem::exists("/usr/sbin/ipsec"))
    GTEST_SKIP() << "libreswan is not installed (tests/install-deps.sh)";
  const auto traits = identify_daemon(detect::HostRoot("/"));
  EXPECT_EQ(traits.product, "Libreswan");
  EXPECT_EQ(traits.parser_ipv6, ParserIpv6::supported);
}

TEST(DoctorDaemonTraits, NoScriptIsUnknownAndSaysWhereItLooked) {
  TempTree tree;
  const auto traits = identify_daemon(detect::HostRoot(tree.path()));
  EXPECT_EQ(traits.parser_ipv6, ParserIpv6::unknown);
  EXPECT_THAT(traits.source, HasSubstr("none of /usr/local/sbin/ipsec, /usr/sbin/ipsec, /sbin/ipsec exists"));
}

TEST(DoctorUpdown, ReadsConfiguredAndDefaultScriptsAndReportsMissingOnes) {
  TempTree tree;
  tree.write("usr/local/lib/ipsec/_updown", "#!/bin/sh\n");
  tree.write("etc/ipsec.d/fw-updown", "#!/bin/sh\niptables -A FORWARD -i ipsec0 -j ACCEPT\n");
  const detect::HostRoot root(tree.path());
  const auto conf = detect::parse_ipsec_conf(
      "conn a\n\tleftupdown=\"/etc/ipsec.d/fw-updown --verbose\"\n"
      "conn b\n\trightupdown=/etc/ipsec.d/missing\n"
      "conn c\n\tleftupdown=relative/updown\n"
      "conn d\n\tleftupdown=%disabled\n",
      "/etc/ipsec.conf", root);
  const auto scripts = read_updown_scripts(root, conf);
  ASSERT_EQ(scripts.size(), 4u);
  EXPECT_EQ(scripts[0].name, "/etc/ipsec.d/fw-updown");
  EXPECT_EQ(scripts[0].status, SourceStatus::read);
  EXPECT_THAT(scripts[0].text, HasSubstr("ipsec0"));
  EXPECT_EQ(scripts[1].status, SourceStatus::failed);
  EXPECT_THAT(scripts[1].detail, HasSubstr("missing, yet rightupdown names it at /etc/ipsec.conf:4"));
  EXPECT_EQ(scripts[2].status, SourceStatus::failed);
  EXPECT_THAT(scripts[2].detail, HasSubstr("not an absolute path"));
  EXPECT_EQ(scripts[3].name, "/usr/local/lib/ipsec/_updown");
}

TEST(DoctorFirewallRules, FixtureRootSkipsIptablesSaveAndARulesFileIsRead) {
  TempTree tree;
  auto rules = read_firewall_rules(detect::HostRoot(tree.path()), {});
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].status, SourceStatus::skipped);
  EXPECT_THAT(rules[0].detail, HasSubstr("--iptables-rules"));
  tree.write("saved.rules", "-A FORWARD -i ipsec+ -j ACCEPT\n");
  rules = read_firewall_rules(detect::HostRoot(tree.path()), tree.path() / "saved.rules");
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].status, SourceStatus::read);
  EXPECT_THAT(rules[0].text, HasSubstr("ipsec+"));
  rules = read_firewall_rules(detect::HostRoot(tree.path()), tree.path() / "nope.rules");
  EXPECT_EQ(rules[0].status, SourceStatus::failed);
}

TEST(DoctorFirewallRules, RealRootRunsIptablesSaveWhenInstalled) {
  if (::access("/usr/sbin/iptables-save", X_OK) != 0) GTEST_SKIP() << "iptables-save is not installed";
  const auto rules = read_firewall_rules(detect::HostRoot("/"), {});
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].name, "/usr/sbin/iptables-save");
  // Without CAP_NET_ADMIN (or without netfilter) it fails, and says why; it never hangs.
  EXPECT_TRUE(rules[0].status == SourceStatus::read ||
              (rules[0].status == SourceStatus::failed && !rules[0].detail.empty()))
      << rules[0].detail;
}

}  // namespace
}  // namespace stackmgr::doctor
