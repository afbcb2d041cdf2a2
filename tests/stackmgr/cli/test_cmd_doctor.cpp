// The real `stackmgr doctor` binary: on this host, and with --root on fixture trees made of a
// detect kernel case (tests/detect/fixtures, with a real libkmod index) and a doctor case
// (tests/stackmgr/fixtures/doctor: base, then the case's own files).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/detect/fixture_root.hpp"
#include "tests/detect/run_process.hpp"
#include "tests/stackmgr/cli/doctor_root.hpp"

namespace stackmgr::cli {
namespace {

namespace fs = std::filesystem;
using detect_test::FixtureRoot;
using detect_test::run_process;
using nlohmann::json;
using testing::HasSubstr;

const std::string kBinary = STACKMGR_BINARY;
const fs::path kDoctorFixtures = DOCTOR_FIXTURES;

int expected_exit(const json& report) {
  bool warn = false;
  bool fail = false;
  for (const auto& check : report["checks"]) {
    warn = warn || check["level"] == "WARN";
    fail = fail || check["level"] == "FAIL";
  }
  if (report["detect"]["overall"] == "conflict") return 10;
  return fail ? 13 : warn ? 12 : 0;
}

const json& check(const json& report, std::string_view id) {
  for (const auto& item : report["checks"]) {
    if (item["id"] == id) return item;
  }
  throw std::runtime_error("no check " + std::string(id));
}

std::string not_ok(const json& report) {
  std::string text;
  for (const auto& item : report["checks"]) {
    if (item["level"] != "OK")
      text += item["id"].get<std::string>() + ": " + item["reason"].get<std::string>() + "\n";
  }
  return text;
}

TEST(DoctorBinary, ThisHostGetsAConsistentReport) {
  const auto result = run_process({kBinary, "doctor", "--json"});
  const json report = json::parse(result.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << result.out << result.err;
  EXPECT_EQ(report["schema"], "stackmgr.doctor/1");
  EXPECT_EQ(report["checks"].size(), 14u);
  EXPECT_EQ(result.exit_code, expected_exit(report));
  EXPECT_EQ(report["exit_code"], result.exit_code);
  for (const auto& item : report["checks"]) {
    EXPECT_FALSE(item["reason"].get<std::string>().empty()) << item["id"];
    EXPECT_EQ(item["fix"].get<std::string>().empty(), item["level"] == "OK") << item["id"];
  }
}

TEST(DoctorBinary, HelpDocumentsTheExitCodes) {
  const auto result = run_process({kBinary, "doctor", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("12  at least one WARN"));
  EXPECT_THAT(result.out, HasSubstr("13  at least one FAIL"));
  EXPECT_THAT(result.out, HasSubstr("--iptables-rules"));
}

class DoctorBinaryOnFixture : public testing::Test {
 protected:
  void SetUp() override {
    const auto release = detect_test::debian_kernel_release();
    if (!release) GTEST_SKIP() << "the Debian kernel's module index (linux-image-amd64) is not installed";
    real_modules_ = "/lib/modules/" + *release;
  }

  struct Run {
    json report;
    int exit_code = -1;
    std::string out;
  };

  // `stackmgr --root <tree> doctor --json` (or the table with json == false) on a doctor case.
  Run doctor(std::string_view name, std::vector<std::string> extra = {}, bool as_json = true) {
    const fs::path source = kDoctorFixtures / name;
    const FixtureRoot fixture(doctor_root::kernel_case(source));
    if (const detect::Status built = fixture.build_kmod_index(real_modules_); !built) {
      ADD_FAILURE() << built.error().describe();
      return {};
    }
    doctor_root::lay_doctor_case(fixture.path(), kDoctorFixtures, name);
    std::vector<std::string> argv{kBinary, "--root", fixture.path().string(), "doctor"};
    if (as_json) argv.emplace_back("--json");
    if (fs::exists(fixture.path() / "iptables.rules")) {
      argv.insert(argv.end(), {"--iptables-rules", (fixture.path() / "iptables.rules").string()});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    const auto result = run_process(argv);
    Run run{json(), result.exit_code, result.out};
    if (!as_json) return run;
    run.report = json::parse(result.out, nullptr, false);
    EXPECT_FALSE(run.report.is_discarded()) << result.out << result.err;
    if (run.report.is_discarded()) return run;
    EXPECT_EQ(result.exit_code, expected_exit(run.report)) << not_ok(run.report);
    return run;
  }

  fs::path real_modules_;
};

TEST_F(DoctorBinaryOnFixture, HealthyNativeHostIsAllOk) {
  const auto run = doctor("healthy_native");
  EXPECT_EQ(run.exit_code, 0) << not_ok(run.report);
  EXPECT_EQ(run.report["stack"]["name"], "native");
  EXPECT_EQ(run.report["inputs"]["daemon"]["product"], "FreeS/WAN");
  EXPECT_EQ(run.report["inputs"]["daemon"]["state"], "running");
  EXPECT_EQ(run.report["inputs"]["ipsec_conf"]["conns"], 1);
}

TEST_F(DoctorBinaryOnFixture, IpcompOnNativeFailsAndOnKlipsPasses) {
  auto run = doctor("ipcomp_native");
  EXPECT_EQ(run.exit_code, 13);
  EXPECT_EQ(check(run.report, "ipcomp-native")["level"], "FAIL");
  EXPECT_THAT(check(run.report, "ipcomp-native")["fix"].get<std::string>(), HasSubstr("/etc/ipsec.conf:9"));
  run = doctor("ipcomp_klips");
  EXPECT_EQ(run.report["stack"]["name"], "klips");
  EXPECT_EQ(check(run.report, "ipcomp-native")["level"], "OK");
  EXPECT_EQ(run.exit_code, 0) << not_ok(run.report);
}

TEST_F(DoctorBinaryOnFixture, LocalNameserverWithOeFailsUntilExcludeLoIsThere) {
  auto run = doctor("oe_local_nameserver");
  EXPECT_EQ(run.exit_code, 13);
  EXPECT_EQ(run.report["oe"]["on"], true);
  EXPECT_EQ(check(run.report, "oe-local-nameserver")["level"], "FAIL");
  EXPECT_THAT(check(run.report, "oe-local-nameserver")["fix"].get<std::string>(),
              HasSubstr("conn exclude-lo\n"));
  run = doctor("oe_exclude_lo");
  EXPECT_EQ(check(run.report, "oe-local-nameserver")["level"], "OK");
  EXPECT_EQ(run.exit_code, 0) << not_ok(run.report);
}

TEST_F(DoctorBinaryOnFixture, NameserverOutsideTheClearGroupWarns) {
  const auto run = doctor("oe_dns_not_clear");
  EXPECT_EQ(run.exit_code, 12);
  EXPECT_EQ(check(run.report, "oe-dns-clear")["level"], "WARN");
  EXPECT_THAT(check(run.report, "oe-dns-clear")["fix"].get<std::string>(), HasSubstr("\n192.0.2.53\n"));
}

TEST_F(DoctorBinaryOnFixture, NativeOeOverTheLanWarnsAboutAsymmetricRouting) {
  const auto run = doctor("oe_asymmetric");
  EXPECT_EQ(run.exit_code, 12);
  EXPECT_EQ(check(run.report, "oe-asymmetric-routing")["level"], "WARN");
  EXPECT_EQ(check(run.report, "oe-dns-clear")["level"], "OK");
  EXPECT_THAT(check(run.report, "oe-asymmetric-routing")["reason"].get<std::string>(),
              HasSubstr("192.168.1.0/24 (eth0)"));
}

TEST_F(DoctorBinaryOnFixture, Ipv6InAnIncludedFileWarnsForFreeswanOnly) {
  auto run = doctor("ipv6_freeswan");
  EXPECT_EQ(run.exit_code, 12);
  EXPECT_EQ(check(run.report, "ipv6-config-parser")["level"], "WARN");
  EXPECT_THAT(check(run.report, "ipv6-config-parser")["reason"].get<std::string>(),
              HasSubstr("left=2001:db8:1::1 at /etc/ipsec.d/v6.conf:2"));
  run = doctor("ipv6_freeswan", {"--daemon-ipv6", "yes"});
  EXPECT_EQ(check(run.report, "ipv6-config-parser")["level"], "OK");
  EXPECT_EQ(run.exit_code, 0) << not_ok(run.report);
}

TEST_F(DoctorBinaryOnFixture, RulesOnIpsecInterfacesWarnOnNativeOnly) {
  auto run = doctor("ipsec_rules_native");
  EXPECT_EQ(run.exit_code, 12);
  const std::string reason = check(run.report, "ipsec-interface-rules")["reason"];
  EXPECT_THAT(reason, HasSubstr("iptables.rules:7: -A FORWARD -i ipsec+ -j ACCEPT"));
  EXPECT_THAT(reason, HasSubstr("/etc/ipsec.d/firewall-updown:4:"));
  run = doctor("ipsec_rules_klips");
  EXPECT_EQ(check(run.report, "ipsec-interface-rules")["level"], "OK");
  EXPECT_EQ(run.exit_code, 0) << not_ok(run.report);
}

TEST_F(DoctorBinaryOnFixture, StackHealthFailures) {
  auto run = doctor("conflict");
  EXPECT_EQ(run.exit_code, 10);
  EXPECT_EQ(check(run.report, "stack-conflict")["level"], "FAIL");
  run = doctor("both_builtin");
  EXPECT_EQ(check(run.report, "stack-both-builtin")["level"], "FAIL");
  run = doctor("blacklisted_esp4");
  EXPECT_EQ(check(run.report, "stack-blacklist")["level"], "FAIL");
  EXPECT_THAT(check(run.report, "stack-blacklist")["reason"].get<std::string>(), HasSubstr("esp4"));
  run = doctor("modules_disabled");
  EXPECT_EQ(check(run.report, "modules-disabled")["level"], "FAIL");
  run = doctor("klips_no_guard");
  EXPECT_EQ(check(run.report, "autoload-guard")["level"], "FAIL");
  run = doctor("daemon_stale");
  EXPECT_EQ(check(run.report, "keying-daemon")["level"], "FAIL");
  EXPECT_THAT(check(run.report, "keying-daemon")["reason"].get<std::string>(), HasSubstr("stale pid file"));
}

TEST_F(DoctorBinaryOnFixture, TableShowsLevelReasonAndFix) {
  const auto run = doctor("oe_local_nameserver", {}, false);
  EXPECT_EQ(run.exit_code, 13);
  EXPECT_THAT(run.out, HasSubstr("FAIL  OE with a local nameserver  [oe-local-nameserver]"));
  EXPECT_THAT(run.out, HasSubstr("      fix: Add this conn to /etc/ipsec.conf"));
  EXPECT_THAT(run.out, HasSubstr("Summary: "));
}

}  // namespace
}  // namespace stackmgr::cli
