// The maintainer-script and kernel-hook decisions (stackmgr/hook.cpp) against a fake host:
// what is started, stopped or restarted, what the admin reads, and the exit code dpkg sees.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/hook/hook.hpp"
#include "tests/support/fake_kernel.hpp"

namespace stackmgr::hook {
namespace {

using detect::DiskState;
using detect::ModuleState;
using detect::Overall;
using detect::Stack;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// A snapshot in which exactly `loaded` (catalog names) are live.
detect::Snapshot snapshot_with(Overall overall, const std::vector<std::string>& loaded) {
  detect::Snapshot snapshot;
  snapshot.subsystem.supported = detect::Fact::yes;
  snapshot.overall = overall;
  const auto catalog = detect::Catalog::defaults();
  for (const auto& spec : catalog.all()) {
    detect::ModuleStatus status;
    status.spec = spec;
    const bool live = std::find(loaded.begin(), loaded.end(), spec.name) != loaded.end();
    status.state = live ? ModuleState::live : ModuleState::available;
    snapshot.modules.push_back(status);
  }
  return snapshot;
}

class FakeHost final : public HookHost {
 public:
  explicit FakeHost(const std::filesystem::path& run_dir) {
    config.paths.run_dir = run_dir;
    config.source = "/etc/stackmgr/stackmgr.toml";
  }

  config::ConfigResult load_config() override {
    ++config_loads;
    if (config_error) return *config_error;
    return config;
  }
  SupervisorState supervisor_state(const config::Config&) override { return state; }
  detect::Snapshot detect_running_kernel(const config::Config&) override { return snapshot; }
  StartChoice start_choice(const config::Config&, const detect::Snapshot&) override { return choice; }
  KernelIndex kernel_index(const std::string& release) override {
    indexed.push_back(release);
    return KernelIndex{std::make_unique<fake::FakeKernel>(kernel), "/lib/modules/" + release, index_problem};
  }
  int invoke_rc(std::string_view action) override {
    invoked.emplace_back(action);
    const auto found = exit_status.find(std::string(action));
    const int status = found == exit_status.end() ? 0 : found->second;
    if (status == 0 && action == "stop") state = SupervisorState::stopped;
    if (status == 0 && action == "start") state = SupervisorState::running;
    return status;
  }

  config::Config config = config::default_config();
  std::optional<config::ConfigError> config_error;
  SupervisorState state = SupervisorState::stopped;
  detect::Snapshot snapshot = snapshot_with(Overall::native, {"af_key", "esp4", "ah4"});
  StartChoice choice{Stack::native, "native (auto: keeps the stack already in the kernel)"};
  fake::FakeKernel kernel;
  std::string index_problem;
  std::map<std::string, int> exit_status;

  int config_loads = 0;
  std::vector<std::string> invoked;
  std::vector<std::string> indexed;
};

class HookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    run_dir_ = std::filesystem::temp_directory_path() /
               ("stackmgr-hook-test-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(run_dir_);
    host_ = std::make_unique<FakeHost>(run_dir_);
  }
  void TearDown() override { std::filesystem::remove_all(run_dir_); }

  int postinst(std::vector<std::string> args, ServiceActions services = ServiceActions::allowed) {
    return run_postinst_hook(HookRun{*host_, out_, services}, args);
  }
  int prerm(std::vector<std::string> args, ServiceActions services = ServiceActions::allowed) {
    return run_prerm_hook(HookRun{*host_, out_, services}, args);
  }
  int kernel_installed(std::string_view release) {
    return run_kernel_installed_hook(HookRun{*host_, out_, ServiceActions::allowed}, release);
  }
  [[nodiscard]] std::string said() const { return out_.str(); }
  [[nodiscard]] bool marker_exists() const {
    return std::filesystem::exists(package_stopped_marker(host_->config.paths));
  }

  std::filesystem::path run_dir_;
  std::unique_ptr<FakeHost> host_;
  std::ostringstream out_;
};

// --- postinst configure -----------------------------------------------------------------

TEST_F(HookTest, FreshInstallIsEnabledButNotStarted) {
  EXPECT_EQ(postinst({"configure", ""}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("not started now"));
  EXPECT_THAT(said(), HasSubstr("/etc/stackmgr/stackmgr.toml"));
  EXPECT_THAT(said(), HasSubstr("invoke-rc.d stackmgr start"));
}

TEST_F(HookTest, UpgradeLeavesAStoppedSupervisorStopped) {
  EXPECT_EQ(postinst({"configure", "0.1.0"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("was not running; it stays stopped"));
}

TEST_F(HookTest, UpgradeRestartsARunningSupervisorOnTheSameStack) {
  host_->state = SupervisorState::running;
  EXPECT_EQ(postinst({"configure", "0.1.0"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, ElementsAre("restart"));
  EXPECT_THAT(said(), HasSubstr("stays on the native stack"));
  EXPECT_THAT(said(), HasSubstr("restarted on the native stack"));
}

TEST_F(HookTest, UpgradeRestartsWhenTheChoiceIsTheActiveStack) {
  host_->state = SupervisorState::running;
  host_->snapshot = snapshot_with(Overall::klips, {"ipsec"});
  host_->choice = {Stack::klips, "klips (from the last switch, /var/lib/stackmgr/stack)"};
  EXPECT_EQ(postinst({"configure", "0.1.0"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, ElementsAre("restart"));
  EXPECT_THAT(said(), HasSubstr("stays on the klips stack"));
}

TEST_F(HookTest, UpgradeNeverRestartsIntoAnotherStack) {
  host_->state = SupervisorState::running;
  host_->choice = {Stack::klips, "klips (from the stackmgr config /etc/stackmgr/stackmgr.toml)"};
  EXPECT_EQ(postinst({"configure", "0.1.0"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("not restarting the supervisor: it runs on the native stack"));
  EXPECT_THAT(
      said(),
      HasSubstr("a restart would make ready klips (from the stackmgr config /etc/stackmgr/stackmgr.toml)"));
  EXPECT_THAT(said(), HasSubstr("'stackmgr switch klips'"));
}

TEST_F(HookTest, UpgradeDoesNotRestartWhenTheKernelStateIsUnclear) {
  host_->state = SupervisorState::running;
  host_->snapshot = snapshot_with(Overall::conflict, {"af_key", "ipsec"});
  host_->snapshot.reasons = {"af_key and ipsec are both loaded"};
  EXPECT_EQ(postinst({"configure", "0.1.0"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("IPsec state is conflict (af_key and ipsec are both loaded)"));
  EXPECT_THAT(said(), HasSubstr("stackmgr doctor"));
}

TEST_F(HookTest, UpgradeDoesNotRestartWhenStartWouldRefuseToChoose) {
  host_->state = SupervisorState::running;
  host_->choice = {std::nullopt,
                   "refusing to guess the stack: protostack=foo in /etc/ipsec.conf:3 is invalid"};
  EXPECT_EQ(postinst({"configure", "0.1.0"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(),
              HasSubstr("would not know which stack to take (refusing to guess the stack: protostack=foo"));
}

TEST_F(HookTest, InvalidConfigIsReportedAndNothingIsRestarted) {
  host_->state = SupervisorState::running;
  host_->config_error =
      config::ConfigError{"/etc/stackmgr/stackmgr.toml", 12, "daemon.stop_timeout", "not a duration"};
  EXPECT_EQ(postinst({"configure", "0.1.0"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("WARNING: the configuration is not valid"));
  EXPECT_THAT(said(), HasSubstr("/etc/stackmgr/stackmgr.toml:12"));
  EXPECT_THAT(said(), HasSubstr("refuse to start until it is fixed"));
}

TEST_F(HookTest, PolicyRcdForbiddingTheRestartIsReportedNotFatal) {
  host_->state = SupervisorState::running;
  host_->exit_status["restart"] = kInvokeRcdForbidden;
  EXPECT_EQ(postinst({"configure", "0.1.0"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, ElementsAre("restart"));
  EXPECT_THAT(said(), HasSubstr("policy-rc.d) forbids 'restart'"));
  EXPECT_THAT(said(), Not(HasSubstr("restarted on")));
}

TEST_F(HookTest, AFailedRestartFailsThePostinst) {
  host_->state = SupervisorState::running;
  host_->exit_status["restart"] = 1;
  EXPECT_EQ(postinst({"configure", "0.1.0"}), code(base::Exit::daemon_failed));
  EXPECT_THAT(said(), HasSubstr("'invoke-rc.d stackmgr restart' failed with exit status 1"));
}

TEST_F(HookTest, UnknownSupervisorStateIsNotRestarted) {
  host_->state = SupervisorState::unknown;
  EXPECT_EQ(postinst({"configure", "0.1.0"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("cannot tell whether the supervisor is running"));
}

TEST_F(HookTest, DpkgRootTouchesNoService) {
  host_->state = SupervisorState::running;
  EXPECT_EQ(postinst({"configure", "0.1.0"}, ServiceActions::skipped_for_dpkg_root), code(base::Exit::ok));
  EXPECT_EQ(prerm({"remove"}, ServiceActions::skipped_for_dpkg_root), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("DPKG_ROOT is set"));
}

TEST_F(HookTest, PostinstIgnoresActionsItHasNoUseFor) {
  host_->state = SupervisorState::running;
  EXPECT_EQ(postinst({"abort-upgrade", "0.2.0"}), code(base::Exit::ok));
  EXPECT_EQ(postinst({"triggered", "something"}), code(base::Exit::ok));
  EXPECT_EQ(postinst({}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(), IsEmpty());
}

// --- prerm ------------------------------------------------------------------------------

TEST_F(HookTest, RemoveStopsTheSupervisorAndSaysTheModulesStay) {
  host_->state = SupervisorState::running;
  EXPECT_EQ(prerm({"remove"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, ElementsAre("stop"));
  EXPECT_THAT(said(), HasSubstr("stopping the supervisor and its keying daemon"));
  EXPECT_THAT(said(), HasSubstr("left as they are; removing stackmgr unloads nothing"));
  EXPECT_THAT(said(), HasSubstr("native stack loaded: af_key, esp4, ah4"));
  EXPECT_THAT(said(), HasSubstr("modprobe -r af_key esp4 ah4"));
  EXPECT_TRUE(marker_exists());
}

TEST_F(HookTest, RemoveWithKlipsLoadedMentionsTheGuardThatStays) {
  host_->state = SupervisorState::running;
  host_->snapshot = snapshot_with(Overall::klips, {"ipsec", "ipsec_aes"});
  host_->snapshot.markers.guard_installed = true;
  EXPECT_EQ(prerm({"remove"}), code(base::Exit::ok));
  EXPECT_THAT(said(), HasSubstr("KLIPS loaded: ipsec, ipsec_aes"));
  EXPECT_THAT(said(), HasSubstr("reboot rather than rmmod"));
  EXPECT_THAT(said(), HasSubstr("/run/modprobe.d/stackmgr-guard.conf stays too"));
}

TEST_F(HookTest, RemoveOfAStoppedSupervisorStopsNothing) {
  host_->snapshot = snapshot_with(Overall::none, {});
  EXPECT_EQ(prerm({"remove"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("the supervisor is not running"));
  EXPECT_THAT(said(), HasSubstr("no IPsec stack modules are loaded"));
  EXPECT_FALSE(marker_exists());
}

TEST_F(HookTest, RemoveOnAKernelWithoutModulesSaysThereIsNothingToUnload) {
  host_->snapshot = detect::Snapshot{};
  host_->snapshot.subsystem.supported = detect::Fact::no;
  EXPECT_EQ(prerm({"remove"}), code(base::Exit::ok));
  EXPECT_THAT(said(), HasSubstr("no loadable module support"));
}

TEST_F(HookTest, RemoveForbiddenByPolicyLeavesNoMarker) {
  host_->state = SupervisorState::running;
  host_->exit_status["stop"] = kInvokeRcdForbidden;
  EXPECT_EQ(prerm({"remove"}), code(base::Exit::ok));
  EXPECT_THAT(said(), HasSubstr("forbids 'stop'"));
  EXPECT_FALSE(marker_exists());
}

TEST_F(HookTest, AFailedStopIsReported) {
  host_->state = SupervisorState::running;
  host_->exit_status["stop"] = 1;
  EXPECT_EQ(prerm({"remove"}), code(base::Exit::daemon_failed));
  EXPECT_THAT(said(), HasSubstr("'invoke-rc.d stackmgr stop' failed with exit status 1"));
  EXPECT_THAT(said(), HasSubstr("native stack loaded"));
}

TEST_F(HookTest, PrermUpgradeKeepsTheSupervisorRunning) {
  host_->state = SupervisorState::running;
  EXPECT_EQ(prerm({"upgrade", "0.2.0"}), code(base::Exit::ok));
  EXPECT_EQ(prerm({"failed-upgrade", "0.1.0"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
  EXPECT_THAT(said(), IsEmpty());
}

TEST_F(HookTest, AbortedRemovalStartsWhatPrermStopped) {
  host_->state = SupervisorState::running;
  ASSERT_EQ(prerm({"remove"}), code(base::Exit::ok));
  ASSERT_TRUE(marker_exists());
  EXPECT_EQ(postinst({"abort-remove"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, ElementsAre("stop", "start"));
  EXPECT_THAT(said(), HasSubstr("the removal was aborted"));
  EXPECT_FALSE(marker_exists());
}

TEST_F(HookTest, AbortedRemovalDoesNotStartWhatWasNotRunning) {
  ASSERT_EQ(prerm({"remove"}), code(base::Exit::ok));
  EXPECT_EQ(postinst({"abort-remove"}), code(base::Exit::ok));
  EXPECT_THAT(host_->invoked, IsEmpty());
}

TEST_F(HookTest, ConfigureForgetsAStaleStopMarker) {
  host_->state = SupervisorState::running;
  ASSERT_EQ(prerm({"remove"}), code(base::Exit::ok));
  ASSERT_TRUE(marker_exists());
  EXPECT_EQ(postinst({"configure", ""}), code(base::Exit::ok));
  EXPECT_FALSE(marker_exists());
}

// --- kernel-installed -------------------------------------------------------------------

TEST_F(HookTest, KernelWithoutKlipsWarnsLoudlyAndNeverFails) {
  host_->choice = {Stack::klips, "klips (from the stackmgr config /etc/stackmgr/stackmgr.toml)"};
  host_->kernel.add_module("af_key", DiskState::available);
  EXPECT_EQ(kernel_installed("6.1.0-99-amd64"), code(base::Exit::ok));
  EXPECT_THAT(host_->indexed, ElementsAre("6.1.0-99-amd64"));
  EXPECT_THAT(said(), HasSubstr("WARNING: kernel 6.1.0-99-amd64 has no ipsec for the klips stack"));
  EXPECT_THAT(said(), HasSubstr("/lib/modules/6.1.0-99-amd64/modules.dep"));
  EXPECT_THAT(said(), HasSubstr("dkms autoinstall -k 6.1.0-99-amd64"));
  EXPECT_THAT(said(), HasSubstr("the choice is klips (from the stackmgr config"));
}

TEST_F(HookTest, KernelWithoutNativeModulesPointsAtTheKernelConfig) {
  host_->kernel.add_module("af_key", DiskState::available);
  EXPECT_EQ(kernel_installed("6.1.0-99-amd64"), code(base::Exit::ok));
  EXPECT_THAT(said(), HasSubstr("has no esp4, ah4 for the native stack"));
  EXPECT_THAT(said(), HasSubstr("CONFIG_INET_ESP"));
}

TEST_F(HookTest, KernelWithTheModulesSaysSoInOneLine) {
  host_->kernel.add_module("af_key", DiskState::available);
  host_->kernel.add_module("esp4", DiskState::builtin);
  host_->kernel.add_module("ah4", DiskState::available);
  EXPECT_EQ(kernel_installed("6.1.0-99-amd64"), code(base::Exit::ok));
  EXPECT_EQ(
      said(),
      "stackmgr: kernel 6.1.0-99-amd64 has the native stack's modules: af_key (module), esp4 (built in), "
      "ah4 (module)\n");
}

TEST_F(HookTest, KernelCheckWithoutAStackChoiceSaysWhy) {
  host_->choice = {std::nullopt, "refusing to guess the stack: both stacks are in the kernel"};
  EXPECT_EQ(kernel_installed("6.1.0-99-amd64"), code(base::Exit::ok));
  EXPECT_THAT(host_->indexed, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("WARNING: not checking kernel 6.1.0-99-amd64: cannot tell which stack"));
  EXPECT_THAT(said(), HasSubstr("both stacks are in the kernel"));
}

TEST_F(HookTest, KernelCheckWarnsAboutABlacklistedCoreModule) {
  host_->kernel.add_module("af_key", DiskState::available);
  host_->kernel.add_module("esp4", DiskState::available);
  host_->kernel.add_module("ah4", DiskState::available);
  host_->kernel.set_blacklisted("esp4");
  EXPECT_EQ(kernel_installed("6.1.0-99-amd64"), code(base::Exit::ok));
  EXPECT_THAT(said(), HasSubstr("WARNING: esp4 is blacklisted"));
}

TEST_F(HookTest, KernelCheckRefusesAReleaseThatIsNotAName) {
  EXPECT_EQ(kernel_installed("../../etc"), code(base::Exit::ok));
  EXPECT_EQ(kernel_installed(""), code(base::Exit::ok));
  EXPECT_THAT(host_->indexed, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("not a kernel release name"));
}

TEST_F(HookTest, KernelCheckWithoutAnIndexSaysItCannotCheck) {
  host_->index_problem = "no modules directory /lib/modules/6.1.0-99-amd64";
  EXPECT_EQ(kernel_installed("6.1.0-99-amd64"), code(base::Exit::ok));
  EXPECT_THAT(said(),
              HasSubstr("WARNING: cannot check kernel 6.1.0-99-amd64 for the native stack's modules: no "
                        "modules directory"));
}

TEST_F(HookTest, KernelCheckSkipsExternallyManagedModules) {
  host_->config.module_mode = config::ModuleMode::external;
  EXPECT_EQ(kernel_installed("6.1.0-99-amd64"), code(base::Exit::ok));
  EXPECT_THAT(host_->indexed, IsEmpty());
  EXPECT_THAT(said(), HasSubstr("module_mode = external"));
}

TEST_F(HookTest, KernelCheckWithABrokenConfigWarnsAndSucceeds) {
  host_->config_error =
      config::ConfigError{"/etc/stackmgr/stackmgr.toml", 3, "stack", "unknown stack name 'foo'"};
  EXPECT_EQ(kernel_installed("6.1.0-99-amd64"), code(base::Exit::ok));
  EXPECT_THAT(said(), HasSubstr("cannot check kernel 6.1.0-99-amd64"));
  EXPECT_THAT(said(), HasSubstr("unknown stack name 'foo'"));
}

TEST(KernelRelease, AcceptsDistributionNamesOnly) {
  EXPECT_TRUE(is_valid_kernel_release("6.1.0-28-amd64"));
  EXPECT_TRUE(is_valid_kernel_release("2.6.32+klips~1_x"));
  EXPECT_FALSE(is_valid_kernel_release(""));
  EXPECT_FALSE(is_valid_kernel_release(".."));
  EXPECT_FALSE(is_valid_kernel_release("-rf"));
  EXPECT_FALSE(is_valid_kernel_release("6.1/../../etc"));
  EXPECT_FALSE(is_valid_kernel_release("6.1 0"));
  EXPECT_FALSE(is_valid_kernel_release(std::string(65, '1')));
}

}  // namespace
}  // namespace stackmgr::hook
