// Making the chosen stack ready: manage mode through the real planner and executor against the
// fake kernel (lock and module record in a temp run_dir), external mode as a pure check.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/os/lock.hpp"
#include "stackmgr/switch/module_record.hpp"
#include "stackmgr/switch/stack_ready.hpp"
#include "tests/modules/world.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_guard.hpp"

namespace stackmgr::switching {
namespace {

namespace fs = std::filesystem;
using detect::Stack;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using namespace std::chrono_literals;

class StackReadyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/stackmgr-ready-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    config_.paths.run_dir = dir_ / "run";
    config_.paths.state_dir = dir_ / "state";
    config_.paths.ipsec_conf = dir_ / "ipsec.conf";  // absent: no protostack=
    config_.lock_timeout = 200ms;
    config_.load_helpers = false;
  }
  void TearDown() override { fs::remove_all(dir_); }

  StackReadyContext context() {
    StackReadyContext context{config_};
    context.detect = [this] {
      world_.facts.guard_installed = guard_.is_set();
      return world_.snapshot();
    };
    context.backend = &world_.kernel;
    context.guard = &guard_;
    context.clock = &clock_;
    context.report = [this](base::LogLevel, const std::string& message) { reports_.push_back(message); };
    return context;
  }
  std::set<std::string> recorded() const {
    auto record = ModuleRecord::load(config_.paths.module_record());
    EXPECT_TRUE(record) << record.error().describe();
    return record ? record->modules() : std::set<std::string>{};
  }

  fs::path dir_;
  config::Config config_;
  testworld::World world_;
  fake::FakeGuard guard_;
  fake::FakeClock clock_;
  std::vector<std::string> reports_;
};

TEST_F(StackReadyTest, ManageLoadsTheNativeStackAndRecordsWhatItLoaded) {
  const StackOutcome outcome = make_stack_ready(Stack::native, context());
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_FALSE(world_.kernel.crashed());
  EXPECT_TRUE(world_.kernel.is_loaded("af_key"));
  EXPECT_TRUE(world_.kernel.is_loaded("esp4"));
  EXPECT_TRUE(world_.kernel.is_loaded("ah4"));
  EXPECT_THAT(recorded(), UnorderedElementsAre("af_key", "esp4", "ah4", "xfrm_algo"));
  EXPECT_THAT(reports_, testing::Contains(HasSubstr("insert esp4 ok")));
}

TEST_F(StackReadyTest, ManageWithTheStackAlreadyLiveChangesNothing) {
  world_.load({"af_key", "esp4", "ah4"});
  const int inserts = world_.kernel.insert_calls();
  const StackOutcome outcome = make_stack_ready(Stack::native, context());
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_THAT(outcome.message, HasSubstr("already live"));
  EXPECT_EQ(world_.kernel.insert_calls(), inserts);
  EXPECT_THAT(recorded(), IsEmpty()) << "modules someone else loaded are not ours";
}

TEST_F(StackReadyTest, ManageRefusesLikeSwitchAndTouchesNothing) {
  world_.load({"af_key"});
  world_.kernel.hold("af_key");  // an open PF_KEY socket: af_key cannot go
  const auto before = world_.kernel.loaded_names();
  const StackOutcome outcome = make_stack_ready(Stack::klips, context());
  EXPECT_EQ(outcome.exit_code, code(base::Exit::refused)) << outcome.message;
  EXPECT_FALSE(outcome.message.empty());
  EXPECT_EQ(world_.kernel.loaded_names(), before);
  EXPECT_FALSE(world_.kernel.crashed());
}

TEST_F(StackReadyTest, ManageFailureIsRolledBack) {
  world_.kernel.fail_insert("ah4", ENOMEM);
  const StackOutcome outcome = make_stack_ready(Stack::native, context());
  EXPECT_EQ(outcome.exit_code, code(base::Exit::rolled_back)) << outcome.message;
  EXPECT_THAT(outcome.message, HasSubstr("put back where it was"));
  EXPECT_TRUE(world_.kernel.loaded_names().empty());
  EXPECT_THAT(recorded(), IsEmpty());
}

TEST_F(StackReadyTest, ManageIsBusyWhileAnotherChangeHoldsTheLock) {
  ASSERT_EQ(mkdir(config_.paths.run_dir.c_str(), 0700), 0);
  auto held = os::Lock::acquire(config_.paths.lock_file(), os::LockWait::no_wait, 0ms);
  ASSERT_TRUE(held) << held.error().describe();
  const StackOutcome outcome = make_stack_ready(Stack::native, context());
  EXPECT_EQ(outcome.exit_code, code(base::Exit::busy)) << outcome.message;
  EXPECT_TRUE(world_.kernel.loaded_names().empty());
}

TEST_F(StackReadyTest, UnloadOwnRemovesOnlyWhatStackmgrLoaded) {
  world_.load({"xfrm_user"});  // someone else's
  ASSERT_TRUE(make_stack_ready(Stack::native, context()).ok());
  const StackOutcome outcome = unload_own_modules(context());
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_FALSE(world_.kernel.is_loaded("esp4"));
  EXPECT_FALSE(world_.kernel.is_loaded("af_key"));
  EXPECT_TRUE(world_.kernel.is_loaded("xfrm_user")) << "not ours: left alone";
  EXPECT_THAT(recorded(), IsEmpty());
  EXPECT_TRUE(unload_own_modules(context()).ok()) << "nothing left to unload is fine";
}

TEST_F(StackReadyTest, ExternalModeLoadsNothing) {
  config_.module_mode = config::ModuleMode::external;
  world_.load({"af_key", "esp4", "ah4"});
  const int inserts = world_.kernel.insert_calls();
  const StackOutcome outcome = make_stack_ready(Stack::native, context());
  ASSERT_TRUE(outcome.ok()) << outcome.message;
  EXPECT_EQ(world_.kernel.insert_calls(), inserts);
  EXPECT_THAT(unload_own_modules(context()).message, HasSubstr("external"));
  EXPECT_TRUE(world_.kernel.is_loaded("esp4"));
}

TEST_F(StackReadyTest, ExternalModeSaysWhatIsMissing) {
  config_.module_mode = config::ModuleMode::external;
  const StackOutcome outcome = make_stack_ready(Stack::klips, context());
  EXPECT_EQ(outcome.exit_code, code(base::Exit::refused));
  EXPECT_THAT(outcome.message, HasSubstr("ipsec module is not in the kernel"));
  EXPECT_THAT(outcome.message, HasSubstr("modules.mode = \"manage\""));
  EXPECT_EQ(world_.kernel.insert_calls(), 0);
}

// External mode on a host like this one: XFRM built in, no module support, no PF_KEY.
detect::Snapshot xfrm_builtin_host() {
  detect::Snapshot snapshot;
  snapshot.markers.xfrm_stat = true;
  snapshot.markers.xfrm_acq_expires = true;
  const detect::Catalog catalog = detect::Catalog::defaults();
  for (const auto& spec : catalog.all()) {
    detect::ModuleStatus status;
    status.spec = spec;
    status.state = detect::ModuleState::unknown;
    status.note = "no module support";
    snapshot.modules.push_back(status);
  }
  snapshot.native.verdict = detect::Verdict::unavailable;
  snapshot.klips.verdict = detect::Verdict::unavailable;
  return snapshot;
}

TEST(ExternalCheck, XfrmFrameworkMakesNativeUsableWithWarnings) {
  const ExternalCheck check = check_external_stack(xfrm_builtin_host(), Stack::native);
  ASSERT_TRUE(check.usable) << check.missing;
  ASSERT_EQ(check.warnings.size(), 3u);
  EXPECT_THAT(check.warnings[0], HasSubstr("af_key cannot be checked"));
  EXPECT_THAT(check.warnings[0], HasSubstr("XFRM netlink daemons such as libreswan's pluto do not"));
  EXPECT_THAT(check.warnings[1], HasSubstr("esp4"));
}

TEST(ExternalCheck, NoXfrmMeansNativeIsNotUsable) {
  detect::Snapshot snapshot = xfrm_builtin_host();
  snapshot.markers.xfrm_stat = false;
  snapshot.markers.xfrm_acq_expires = false;
  const ExternalCheck check = check_external_stack(snapshot, Stack::native);
  EXPECT_FALSE(check.usable);
  EXPECT_THAT(check.missing, HasSubstr("no XFRM framework"));
  EXPECT_THAT(check.missing, HasSubstr("/proc/net/xfrm_stat"));
}

TEST(ExternalCheck, TheOtherStackInTheKernelIsRefused) {
  detect::Snapshot snapshot = xfrm_builtin_host();
  snapshot.markers.ipsec_version = true;
  snapshot.klips.verdict = detect::Verdict::active;
  snapshot.overall = detect::Overall::klips;
  const ExternalCheck check = check_external_stack(snapshot, Stack::native);
  EXPECT_FALSE(check.usable);
  EXPECT_THAT(check.missing, HasSubstr("the klips stack is in the kernel too"));
}

TEST(ExternalCheck, ActiveStackHasNoWarnings) {
  detect::Snapshot snapshot = xfrm_builtin_host();
  snapshot.native.verdict = detect::Verdict::active;
  const ExternalCheck check = check_external_stack(snapshot, Stack::native);
  EXPECT_TRUE(check.usable);
  EXPECT_THAT(check.warnings, IsEmpty());
}

TEST_F(StackReadyTest, ResolveStackTakesTheCommandLineFirst) {
  config_.stack = Stack::native;
  const ResolvedStack resolved = resolve_stack(config_, Stack::klips, world_.snapshot());
  ASSERT_EQ(resolved.stack, Stack::klips) << resolved.message;
  EXPECT_EQ(resolved.source, config::ChoiceSource::command_line);
}

TEST_F(StackReadyTest, ResolveStackFallsBackToTheConfiguredDefault) {
  config_.default_stack = Stack::klips;
  const ResolvedStack resolved = resolve_stack(config_, std::nullopt, world_.snapshot());
  ASSERT_EQ(resolved.stack, Stack::klips) << resolved.message;
  EXPECT_EQ(resolved.source, config::ChoiceSource::automatic);
}

TEST_F(StackReadyTest, ResolveStackRefusesAnUntrustedIpsecConf) {
  { std::ofstream(config_.paths.ipsec_conf) << "config setup\n\tprotostack=klips\n"; }
  ASSERT_EQ(chmod(config_.paths.ipsec_conf.c_str(), 0666), 0);
  const ResolvedStack resolved = resolve_stack(config_, std::nullopt, world_.snapshot());
  EXPECT_FALSE(resolved.stack.has_value());
  EXPECT_EQ(resolved.exit_code, code(base::Exit::config)) << resolved.message;
}

}  // namespace
}  // namespace stackmgr::switching
