#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stackmgr/doctor/checks.hpp"
#include "tests/stackmgr/doctor/doctor_fixture.hpp"

namespace stackmgr::doctor {
namespace {

using ::testing::HasSubstr;
using namespace doctor_fixture;

TEST(DoctorBothBuiltin, BothCoresBuiltInFails) {
  auto inputs = native_host();
  module(inputs.snapshot, "af_key").state = detect::ModuleState::builtin;
  module(inputs.snapshot, "ipsec").state = detect::ModuleState::builtin;
  const auto result = check_both_builtin(inputs);
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason, HasSubstr("native: af_key; KLIPS: ipsec"));
}

TEST(DoctorBothBuiltin, OneBuiltInPasses) {
  auto inputs = native_host();
  module(inputs.snapshot, "af_key").state = detect::ModuleState::builtin;
  const auto result = check_both_builtin(inputs);
  EXPECT_EQ(result.level, Level::ok);
  EXPECT_THAT(result.reason, HasSubstr("Only the native stack's core is compiled in (af_key)"));
}

TEST(DoctorConflict, ConflictFailsAndTheExitCodeSaysConflict) {
  auto inputs = native_host();
  module(inputs.snapshot, "ipsec").state = detect::ModuleState::live;
  inputs.snapshot.overall = detect::Overall::conflict;
  inputs.snapshot.reasons = {"af_key and ipsec are both loaded"};
  const auto result = check_conflict(inputs);
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason, HasSubstr("af_key and ipsec are both loaded"));
  EXPECT_THAT(result.fix, HasSubstr("stackmgr switch"));
  EXPECT_EQ(run_doctor(inputs).exit_code(), 10);
}

TEST(DoctorConflict, BrokenFailsAndOneStackPasses) {
  auto inputs = native_host();
  EXPECT_EQ(check_conflict(inputs).level, Level::ok);
  inputs.snapshot.overall = detect::Overall::broken;
  EXPECT_EQ(check_conflict(inputs).level, Level::fail);
  EXPECT_EQ(run_doctor(inputs).exit_code(), 13);
}

TEST(DoctorBlacklist, BlacklistedCoreOfTheChosenStackThatIsNotLoadedFails) {
  auto inputs = native_host();
  inputs.snapshot = snapshot_with(detect::Stack::klips);
  inputs.snapshot.overall = detect::Overall::none;
  for (auto& m : inputs.snapshot.modules) {
    if (m.spec.stack == detect::Stack::klips) m.state = detect::ModuleState::available;
    m.guarded = false;
  }
  inputs.chosen_stack = detect::Stack::native;
  inputs.chosen_source = "stack = \"native\" in /etc/stackmgr/stackmgr.toml";
  module(inputs.snapshot, "esp4").blacklisted = true;
  module(inputs.snapshot, "esp4").state = detect::ModuleState::blacklisted;
  const auto result = check_blacklist(inputs, target_stack(inputs));
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason,
              HasSubstr("native stack (stack = \"native\" in /etc/stackmgr/stackmgr.toml) needs esp4"));
  EXPECT_THAT(result.fix, HasSubstr("grep -rn 'esp4'"));
}

TEST(DoctorBlacklist, BlacklistedCoreThatIsLoadedWarnsAndHelpersAreNoted) {
  auto inputs = native_host();
  module(inputs.snapshot, "ah4").blacklisted = true;
  module(inputs.snapshot, "xfrm_user").blacklisted = true;
  auto result = check_blacklist(inputs, target_stack(inputs));
  EXPECT_EQ(result.level, Level::warn);
  EXPECT_THAT(result.reason, HasSubstr("with ah4 loaded"));
  EXPECT_THAT(result.reason, HasSubstr("Blacklisted helpers (optional): xfrm_user"));
  module(inputs.snapshot, "ah4").blacklisted = false;
  result = check_blacklist(inputs, target_stack(inputs));
  EXPECT_EQ(result.level, Level::ok);
}

TEST(DoctorBlacklist, TheOtherStacksGuardIsFine) {
  const auto inputs = klips_host();  // native modules are guarded
  EXPECT_EQ(check_blacklist(inputs, target_stack(inputs)).level, Level::ok);
}

TEST(DoctorModulesDisabled, ActiveStackWarnsInactiveTargetFails) {
  auto inputs = native_host();
  EXPECT_EQ(check_modules_disabled(inputs, target_stack(inputs)).level, Level::ok);
  inputs.snapshot.subsystem.modules_disabled = detect::Fact::yes;
  auto result = check_modules_disabled(inputs, target_stack(inputs));
  EXPECT_EQ(result.level, Level::warn);
  EXPECT_THAT(result.reason, HasSubstr("no switch"));
  inputs.snapshot.overall = detect::Overall::none;
  inputs.snapshot.native.verdict = detect::Verdict::loadable;
  inputs.chosen_stack = detect::Stack::native;
  result = check_modules_disabled(inputs, target_stack(inputs));
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason, HasSubstr("is loadable: it cannot be loaded until reboot"));
}

TEST(DoctorAutoloadGuard, KlipsWithoutGuardFails) {
  auto inputs = klips_host();
  for (auto& m : inputs.snapshot.modules) m.guarded = false;
  inputs.snapshot.markers.guard_installed = false;
  const auto result = check_autoload_guard(inputs);
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason, HasSubstr("nothing stops af_key, esp4, ah4 from autoloading (no guard file"));
  EXPECT_THAT(result.fix, HasSubstr("stackmgr switch klips"));
}

TEST(DoctorAutoloadGuard, KlipsWithGuardOrBlacklistPassesAndNativeNeedsNone) {
  auto inputs = klips_host();
  EXPECT_EQ(check_autoload_guard(inputs).level, Level::ok);
  for (auto& m : inputs.snapshot.modules) {
    m.guarded = false;
    m.blacklisted = m.spec.stack == detect::Stack::native;
  }
  EXPECT_EQ(check_autoload_guard(inputs).level, Level::ok);
  EXPECT_EQ(check_autoload_guard(native_host()).level, Level::ok);
}

TEST(DoctorKeyingDaemon, StateDecidesTheLevel) {
  auto inputs = native_host();
  EXPECT_EQ(check_keying_daemon(inputs).level, Level::ok);
  inputs.daemon = {DaemonState::not_running, "no /run/stackmgr/stackmgr.pid"};
  auto result = check_keying_daemon(inputs);
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason,
              HasSubstr("native stack is active but no keying daemon runs (no /run/stackmgr/stackmgr.pid)"));
  inputs.snapshot.overall = detect::Overall::none;
  EXPECT_EQ(check_keying_daemon(inputs).level, Level::warn);
  inputs.daemon = {DaemonState::unknown, "cannot read /run/stackmgr/stackmgr.pid: Permission denied"};
  EXPECT_EQ(check_keying_daemon(inputs).level, Level::warn);
}

}  // namespace
}  // namespace stackmgr::doctor

namespace stackmgr::doctor {
namespace {

using namespace doctor_fixture;

TEST(DoctorStackAvailable, ActiveOrLoadablePassesPartialWarnsUnavailableFails) {
  auto inputs = native_host();
  EXPECT_EQ(check_stack_available(inputs, target_stack(inputs)).level, Level::ok);
  inputs.snapshot.overall = detect::Overall::none;
  inputs.snapshot.native.verdict = detect::Verdict::loadable;
  EXPECT_EQ(check_stack_available(inputs, target_stack(inputs)).level, Level::ok);
  inputs.snapshot.native.verdict = detect::Verdict::partial;
  EXPECT_EQ(check_stack_available(inputs, target_stack(inputs)).level, Level::warn);
  inputs.snapshot.native.verdict = detect::Verdict::unavailable;
  inputs.snapshot.native.reasons = {"esp4 is not on disk"};
  const auto result = check_stack_available(inputs, target_stack(inputs));
  EXPECT_EQ(result.level, Level::fail);
  EXPECT_THAT(result.reason, ::testing::HasSubstr("cannot be made active: esp4 is not on disk"));
}

}  // namespace
}  // namespace stackmgr::doctor
