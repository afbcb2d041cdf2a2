#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stackmgr/doctor/report.hpp"
#include "tests/stackmgr/doctor/doctor_fixture.hpp"

namespace stackmgr::doctor {
namespace {

using ::testing::HasSubstr;
using namespace doctor_fixture;

DoctorInputs failing_host() {
  auto inputs = native_host();
  turn_on_oe(inputs);
  inputs.resolv = detect::parse_resolv_conf("nameserver 127.0.0.1\n", "/etc/resolv.conf");
  return inputs;
}

TEST(DoctorTable, ShowsEveryCheckWithLevelReasonAndFix) {
  const auto inputs = failing_host();
  const auto table = render_doctor_table(run_doctor(inputs));
  EXPECT_THAT(table,
              HasSubstr("stackmgr doctor: stack native (active in the kernel); opportunistic encryption on"));
  EXPECT_THAT(table, HasSubstr("FAIL  OE with a local nameserver  [oe-local-nameserver]\n"));
  EXPECT_THAT(table, HasSubstr("OK    IPComp on the native stack  [ipcomp-native]\n"));
  EXPECT_THAT(table, HasSubstr("      fix: Add this conn to /etc/ipsec.conf"));
  EXPECT_THAT(table, HasSubstr("daemon:\n\n      conn exclude-lo\n          authby=never\n"));  // to copy
  EXPECT_THAT(table, HasSubstr("          auto=route\n\nOK "));
  EXPECT_THAT(table, HasSubstr("Summary: 12 OK, 1 WARN, 1 FAIL\n"));
  for (std::size_t start = 0, end; (end = table.find('\n', start)) != std::string::npos; start = end + 1) {
    EXPECT_LE(end - start, 100u) << table.substr(start, end - start);
  }
}

TEST(DoctorJson, CarriesTheSameChecksSchemaAndExitCode) {
  const auto inputs = failing_host();
  const auto report = run_doctor(inputs);
  const auto json = doctor_to_json(report, inputs);
  EXPECT_EQ(json["schema"], "stackmgr.doctor/1");
  EXPECT_EQ(json["worst"], "FAIL");
  EXPECT_EQ(json["exit_code"], 13);
  EXPECT_EQ(json["stack"]["name"], "native");
  EXPECT_EQ(json["oe"]["on"], true);
  ASSERT_EQ(json["checks"].size(), report.checks.size());
  for (std::size_t i = 0; i < report.checks.size(); ++i) {
    EXPECT_EQ(json["checks"][i]["id"], report.checks[i].id);
    EXPECT_EQ(json["checks"][i]["level"], to_string(report.checks[i].level));
    EXPECT_EQ(json["checks"][i]["reason"], report.checks[i].reason);
    EXPECT_EQ(json["checks"][i]["fix"], report.checks[i].fix);
  }
  EXPECT_EQ(json["inputs"]["resolv_conf"]["nameservers"][0]["address"], "127.0.0.1");
  EXPECT_EQ(json["inputs"]["policy_groups"]["groups"]["private-or-clear"]["entries"][0], "0.0.0.0/0");
  EXPECT_EQ(json["inputs"]["daemon"]["product"], "FreeS/WAN");
  EXPECT_EQ(json["inputs"]["daemon"]["parser_ipv6"], "unsupported");
  EXPECT_EQ(json["detect"]["schema"], "stackmgr.detect/1");
}

}  // namespace
}  // namespace stackmgr::doctor
