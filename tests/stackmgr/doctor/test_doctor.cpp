#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stackmgr/doctor/doctor.hpp"
#include "tests/stackmgr/doctor/doctor_fixture.hpp"

namespace stackmgr::doctor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace doctor_fixture;

std::vector<std::string> ids(const DoctorReport& report) {
  std::vector<std::string> out;
  for (const auto& check : report.checks) out.push_back(check.id);
  return out;
}

TEST(Doctor, HealthyNativeHostIsAllOkWithExitZero) {
  const DoctorReport report = run_doctor(native_host());
  for (const auto& check : report.checks)
    EXPECT_EQ(check.level, Level::ok) << check.id << ": " << check.reason;
  EXPECT_EQ(report.worst(), Level::ok);
  EXPECT_EQ(report.exit_code(), 0);
  EXPECT_THAT(ids(report),
              ElementsAre("config-files", "ipcomp-native", "oe-local-nameserver", "oe-dns-clear",
                          "oe-asymmetric-routing", "ipv6-config-parser", "ipsec-interface-rules",
                          "stack-both-builtin", "stack-conflict", "stack-available", "stack-blacklist",
                          "modules-disabled", "autoload-guard", "keying-daemon"));
}

TEST(Doctor, WarningsGiveTwelveAndAFailGivesThirteen) {
  auto inputs = native_host();
  turn_on_oe(inputs);  // the nameserver is not in clear, the LAN is covered: two WARNs
  DoctorReport report = run_doctor(inputs);
  EXPECT_EQ(report.worst(), Level::warn);
  EXPECT_EQ(report.exit_code(), 12);
  EXPECT_EQ(report.find("oe-dns-clear")->level, Level::warn);
  inputs.ipsec_conf = conf("conn a\n\tcompress=yes\n");
  report = run_doctor(inputs);
  EXPECT_EQ(report.exit_code(), 13);
  EXPECT_EQ(report.find("ipcomp-native")->level, Level::fail);
  EXPECT_EQ(report.find("nonexistent"), nullptr);
}

TEST(Doctor, TargetStackPrefersActiveThenChosenThenProtostackThenDefault) {
  auto inputs = native_host();
  inputs.chosen_stack = detect::Stack::klips;
  EXPECT_EQ(target_stack(inputs).stack, detect::Stack::native);
  EXPECT_EQ(target_stack(inputs).source, "active in the kernel");
  EXPECT_TRUE(target_stack(inputs).active);
  inputs.snapshot.overall = detect::Overall::none;
  EXPECT_EQ(target_stack(inputs).stack, detect::Stack::klips);
  EXPECT_FALSE(target_stack(inputs).active);
  inputs.chosen_stack.reset();
  inputs.ipsec_conf = conf("config setup\n\tprotostack=klips\n");
  EXPECT_EQ(target_stack(inputs).stack, detect::Stack::klips);
  EXPECT_EQ(target_stack(inputs).source, "protostack=klips at /etc/ipsec.conf:2");
  inputs.ipsec_conf = conf("config setup\n\tprotostack=mast\n");
  EXPECT_EQ(target_stack(inputs).stack, detect::Stack::klips);
  inputs.ipsec_conf = conf("config setup\n\tprotostack=auto\n");
  EXPECT_EQ(target_stack(inputs).stack, detect::Stack::native);
  EXPECT_THAT(target_stack(inputs).source, HasSubstr("default"));
}

}  // namespace
}  // namespace stackmgr::doctor
