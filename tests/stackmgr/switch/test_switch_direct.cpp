// The locked run against the fake kernel: where its files go and what a file system that refuses
// them makes of the switch (exit 15 and nothing changed, never exit 1), and a run_dir that
// stackmgr did not make.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/switch/switch_direct.hpp"
#include "tests/modules/temp_dir.hpp"
#include "tests/modules/world.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_guard.hpp"

namespace stackmgr::switching {
namespace {

namespace fs = std::filesystem;
using detect::Stack;
using ::testing::HasSubstr;

// A host root under a temp dir with nothing in it: no /run, no /var/lib (a minimal image).
struct Host {
  testworld::TempDir dir;
  testworld::World world;
  fake::FakeGuard guard;
  fake::FakeClock clock;
  SwitchEnvironment environment{world.kernel, guard, clock, [this] {
                                  world.facts.guard_installed = guard.is_set();
                                  return world.snapshot();
                                }};
  Host() {
    environment.lock_file = dir.path() / "run/stackmgr/lock";
    environment.module_record = dir.path() / "run/stackmgr/loaded-modules";
    environment.journal = dir.path() / "var/lib/stackmgr/journal";
    environment.chosen_stack_file = dir.path() / "var/lib/stackmgr/stack";
  }
  SwitchResult switch_to(Stack target) {
    SwitchRequest request;
    request.target = target;
    request.policy.load_helpers = false;
    request.wait = os::LockWait::no_wait;
    return switch_direct(request, environment);
  }
};

mode_t mode_of(const fs::path& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? info.st_mode & 07777 : 0;
}

TEST(SwitchDirect, OnARootWithoutVarLibTheStateDirAndItsParentsAreMade) {
  Host host;
  ASSERT_FALSE(fs::exists(host.dir.path() / "var"));
  const SwitchResult result = host.switch_to(Stack::native);
  ASSERT_EQ(result.status, SwitchStatus::executed) << (result.error ? result.error->describe() : "");
  EXPECT_EQ(result.report->outcome, modules::Outcome::done);
  EXPECT_EQ(exit_for(result), base::Exit::ok);
  EXPECT_TRUE(fs::is_regular_file(host.environment.chosen_stack_file)) << "the choice is recorded";
  EXPECT_EQ(mode_of(host.dir.path() / "var/lib"), 0755U);
  EXPECT_EQ(mode_of(host.dir.path() / "var/lib/stackmgr"), 0755U);
  EXPECT_EQ(mode_of(host.dir.path() / "run/stackmgr"), 0700U) << "run_dir is private";
}

TEST(SwitchDirect, AStateDirWhoseParentCannotBeMadeIsExitFifteenAndChangesNothing) {
  Host host;
  std::ofstream(host.dir.path() / "var") << "a file where /var should be";
  const SwitchResult result = host.switch_to(Stack::native);
  ASSERT_EQ(result.status, SwitchStatus::failed);
  ASSERT_TRUE(result.error.has_value());
  EXPECT_EQ(result.error->code, ENOTDIR);
  EXPECT_THAT(result.error->describe(), HasSubstr((host.dir.path() / "var").string()));
  EXPECT_THAT(result.error->describe(), HasSubstr("could not write the switch journal: "));
  EXPECT_EQ(exit_for(result), base::Exit::filesystem) << "the host refused it: not a bug (exit 1)";
  EXPECT_FALSE(host.world.kernel.is_loaded("af_key")) << "no step ran";
}

TEST(SwitchDirect, AReadOnlyOrUnwritableStateDirIsExitFifteen) {
  if (::geteuid() == 0)
    GTEST_SKIP() << "root writes a 0555 directory anyway; the real-kernel suite mounts one read-only";
  Host host;
  fs::create_directories(host.dir.path() / "var/lib/stackmgr");
  ::chmod((host.dir.path() / "var/lib/stackmgr").c_str(), 0555);
  const SwitchResult result = host.switch_to(Stack::native);
  ASSERT_EQ(result.status, SwitchStatus::failed);
  EXPECT_EQ(result.error->code, EACCES);
  EXPECT_EQ(exit_for(result), base::Exit::filesystem);
}

TEST(SwitchDirect, ARunDirThatStackmgrDidNotMakeIsRefusedAndNeverChmoded) {
  Host host;
  const fs::path shared = host.dir.path() / "run/stackmgr";
  fs::create_directories(shared);
  ::chmod(shared.c_str(), 0755);  // like /run
  const SwitchResult result = host.switch_to(Stack::native);
  ASSERT_EQ(result.status, SwitchStatus::failed);
  EXPECT_EQ(result.error->code, 0);
  EXPECT_THAT(result.error->describe(), HasSubstr("it exists with mode 0755"));
  EXPECT_THAT(result.error->describe(), HasSubstr("Set paths.run_dir to a directory of its own"));
  EXPECT_EQ(exit_for(result), base::Exit::config);
  EXPECT_EQ(mode_of(shared), 0755U);
  EXPECT_FALSE(host.world.kernel.is_loaded("af_key"));
}

}  // namespace
}  // namespace stackmgr::switching
