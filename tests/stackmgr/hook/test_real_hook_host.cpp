// The real HookHost (stackmgr/hook_host.cpp): the pid-file probe, the stack a restart would
// choose, another kernel's module index, and invoke-rc.d run without a shell.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <variant>

#include "stackmgr/config/chosen_stack_file.hpp"
#include "stackmgr/hook/real_hook_host.hpp"
#include "stackmgr/os/pid_file.hpp"

namespace stackmgr::hook {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

void write_file(const fs::path& path, const std::string& text, fs::perms mode = fs::perms(0644)) {
  std::ofstream(path) << text;
  fs::permissions(path, mode);
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::string text;
  for (std::string line; std::getline(in, line);) text += line + "\n";
  return text;
}

// The first installed kernel whose module index libkmod can read (linux-image-amd64 is in
// tests/install-deps.sh), or "" when there is none.
std::string installed_kernel() {
  std::error_code ignored;
  for (const auto& entry : fs::directory_iterator("/lib/modules", ignored)) {
    if (fs::exists(entry.path() / "modules.dep.bin")) return entry.path().filename().string();
  }
  return "";
}

class HookHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the config trust checks accept only root-owned files; run as root";
    char tmpl[] = "/tmp/stackmgr-hook-host-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "run");
    fs::create_directories(dir_ / "state");
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // A config file whose state, run dir and ipsec.conf are all inside the test's directory.
  fs::path config_with(const std::string& top) {
    const fs::path file = dir_ / "stackmgr.toml";
    write_file(file, top + "\n[paths]\nrun_dir = \"" + (dir_ / "run").string() + "\"\nstate_dir = \"" +
                         (dir_ / "state").string() + "\"\nipsec_conf = \"" + (dir_ / "ipsec.conf").string() +
                         "\"\n");
    return file;
  }
  config::Config loaded(RealHookHost& host) {
    auto config = host.load_config();
    EXPECT_TRUE(config.ok()) << (config ? "" : config.error().describe());
    return config ? config.value() : config::Config{};
  }

  fs::path dir_;
};

detect::Snapshot snapshot_of(detect::Overall overall) {
  detect::Snapshot snapshot;
  snapshot.overall = overall;
  return snapshot;
}

TEST_F(HookHostTest, APidFileWithoutALiveHolderMeansStopped) {
  RealHookHost host(detect::HostRoot("/"), config_with(""));
  const config::Config config = loaded(host);
  EXPECT_EQ(host.supervisor_state(config), SupervisorState::stopped);

  auto acquired = os::PidFile::acquire(config.paths.pid_file());
  ASSERT_TRUE(std::holds_alternative<os::PidFile>(acquired));
  EXPECT_EQ(host.supervisor_state(config), SupervisorState::running);

  std::get<os::PidFile>(acquired).release();  // a crashed supervisor: the file stays, unlocked
  ASSERT_TRUE(fs::exists(config.paths.pid_file()));
  EXPECT_EQ(host.supervisor_state(config), SupervisorState::stopped);
}

TEST_F(HookHostTest, ARestartKeepsTheActiveStackOnAuto) {
  RealHookHost host(detect::HostRoot("/"), config_with(""));
  const config::Config config = loaded(host);
  const auto choice = host.start_choice(config, snapshot_of(detect::Overall::klips));
  ASSERT_TRUE(choice.stack.has_value());
  EXPECT_EQ(*choice.stack, detect::Stack::klips);
  EXPECT_THAT(choice.source, HasSubstr("keeps the stack already in the kernel"));
}

TEST_F(HookHostTest, ARestartTakesTheConfiguredStack) {
  RealHookHost host(detect::HostRoot("/"), config_with("stack = \"klips\""));
  const config::Config config = loaded(host);
  const auto choice = host.start_choice(config, snapshot_of(detect::Overall::native));
  ASSERT_TRUE(choice.stack.has_value());
  EXPECT_EQ(*choice.stack, detect::Stack::klips);
  EXPECT_THAT(choice.source, HasSubstr((dir_ / "stackmgr.toml").string()));
}

TEST_F(HookHostTest, TheLastSwitchOutranksTheConfig) {
  RealHookHost host(detect::HostRoot("/"), config_with("stack = \"klips\""));
  const config::Config config = loaded(host);
  ASSERT_TRUE(config::write_chosen_stack(config.paths.chosen_stack_file(), detect::Stack::native).ok());
  const auto choice = host.start_choice(config, snapshot_of(detect::Overall::native));
  ASSERT_TRUE(choice.stack.has_value());
  EXPECT_EQ(*choice.stack, detect::Stack::native);
  EXPECT_THAT(choice.source, HasSubstr("last switch"));
}

TEST_F(HookHostTest, ProtostackFromIpsecConfCounts) {
  write_file(dir_ / "ipsec.conf", "config setup\n\tprotostack=klips\n");
  RealHookHost host(detect::HostRoot("/"), config_with(""));
  const config::Config config = loaded(host);
  const auto choice = host.start_choice(config, snapshot_of(detect::Overall::native));
  ASSERT_TRUE(choice.stack.has_value());
  EXPECT_EQ(*choice.stack, detect::Stack::klips);
  EXPECT_THAT(choice.source, HasSubstr("protostack"));
}

TEST_F(HookHostTest, AnUntrustedIpsecConfLeavesNoChoice) {
  write_file(dir_ / "ipsec.conf", "config setup\n\tprotostack=klips\n", fs::perms(0666));
  RealHookHost host(detect::HostRoot("/"), config_with(""));
  const config::Config config = loaded(host);
  const auto choice = host.start_choice(config, snapshot_of(detect::Overall::native));
  EXPECT_FALSE(choice.stack.has_value());
  EXPECT_THAT(choice.source, HasSubstr("ipsec.conf"));
}

TEST_F(HookHostTest, AWorldWritableConfigIsRefused) {
  const fs::path file = config_with("");
  fs::permissions(file, fs::perms(0666));
  RealHookHost host(detect::HostRoot("/"), file);
  const auto config = host.load_config();
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.error().describe(), HasSubstr(file.string()));
}

TEST_F(HookHostTest, AKernelThatIsNotInstalledHasNoIndex) {
  RealHookHost host(detect::HostRoot(dir_), config_with(""));
  const auto index = host.kernel_index("9.9.9-not-installed");
  EXPECT_THAT(index.problem, HasSubstr("9.9.9-not-installed"));
}

TEST_F(HookHostTest, AnInstalledKernelsIndexAnswersLookups) {
  const std::string release = installed_kernel();
  if (release.empty()) GTEST_SKIP() << "no kernel with a module index in /lib/modules (linux-image-amd64)";
  RealHookHost host(detect::HostRoot("/"), config_with(""));
  const auto index = host.kernel_index(release);
  ASSERT_EQ(index.problem, "");
  const auto af_key = index.modules->lookup("af_key");
  ASSERT_TRUE(af_key.ok());
  EXPECT_EQ(af_key->disk, detect::DiskState::available);
  const auto ipsec = index.modules->lookup("ipsec");  // KLIPS is out of tree: never in Debian's kernel
  ASSERT_TRUE(ipsec.ok());
  EXPECT_EQ(ipsec->disk, detect::DiskState::absent);
}

TEST_F(HookHostTest, InvokeRcRunsTheProgramWithTheActionAndReturnsItsStatus) {
  const fs::path program = dir_ / "invoke-rc.d";
  const fs::path log = dir_ / "invoked";
  write_file(program, "#!/bin/sh\necho \"$*\" > " + log.string() + "\nexit 101\n", fs::perms(0755));
  RealHookHost host(detect::HostRoot("/"), config_with(""), program);
  EXPECT_EQ(host.invoke_rc("restart"), kInvokeRcdForbidden);
  EXPECT_EQ(read_file(log), "stackmgr restart\n");
}

TEST_F(HookHostTest, AMissingInvokeRcdIsAFailureNotACrash) {
  RealHookHost host(detect::HostRoot("/"), config_with(""), dir_ / "no-such-program");
  EXPECT_EQ(host.invoke_rc("stop"), 127);
}

}  // namespace
}  // namespace stackmgr::hook
