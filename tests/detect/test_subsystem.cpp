// detect/subsystem.cpp: module support, modules_disabled, capabilities, release, directory.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>

#include "detect/subsystem.hpp"
#include "tests/detect/fixture_root.hpp"

namespace {

using detect::Fact;
using detect_test::FixtureRoot;
using testing::HasSubstr;

std::string notes_of(const detect::ModuleSubsystem& subsystem) {
  std::string text;
  for (const std::string& note : subsystem.notes) text += note + "\n";
  return text;
}

TEST(ReadSubsystem, HealthyRootHasEveryFact) {
  const FixtureRoot fixture("clean");
  const auto subsystem = detect::read_subsystem(fixture.host());
  EXPECT_EQ(subsystem.supported, Fact::yes);
  EXPECT_EQ(subsystem.modules_disabled, Fact::no);
  EXPECT_EQ(subsystem.cap_sys_module, Fact::yes);
  EXPECT_EQ(subsystem.cap_sys_module_bounding, Fact::yes);
  EXPECT_EQ(subsystem.kernel_release, "6.1.0-fixture");
  EXPECT_EQ(subsystem.modules_dir, (fixture.path() / "lib/modules/6.1.0-fixture").string());
  EXPECT_TRUE(subsystem.modules_dir_exists);
  EXPECT_TRUE(subsystem.can_change_modules());
}

TEST(ReadSubsystem, ModulesDisabledIsYes) {
  const FixtureRoot fixture("modules_disabled");
  EXPECT_EQ(detect::read_subsystem(fixture.host()).modules_disabled, Fact::yes);
}

TEST(ReadSubsystem, NoProcModulesMeansNoSupportWithAReason) {
  const FixtureRoot fixture("no_module_support");
  const auto subsystem = detect::read_subsystem(fixture.host());
  EXPECT_EQ(subsystem.supported, Fact::no);
  EXPECT_EQ(subsystem.modules_disabled, Fact::unknown);
  EXPECT_FALSE(subsystem.modules_dir_exists);
  EXPECT_THAT(notes_of(subsystem), HasSubstr("without module support"));
}

TEST(ReadSubsystem, UnmountedProcIsUnknownNotUnsupported) {
  const FixtureRoot fixture("proc_unmounted");
  const auto subsystem = detect::read_subsystem(fixture.host());
  EXPECT_EQ(subsystem.supported, Fact::unknown);
  EXPECT_EQ(subsystem.cap_sys_module, Fact::unknown);
  EXPECT_THAT(notes_of(subsystem), HasSubstr("/proc is not mounted"));
  // The release falls back to uname(): the root's /proc would show the running kernel anyway.
  utsname names{};
  ASSERT_EQ(::uname(&names), 0);
  EXPECT_EQ(subsystem.kernel_release, names.release);
  EXPECT_THAT(notes_of(subsystem), HasSubstr("uname()"));
}

TEST(ReadSubsystem, UnreadableModulesDisabledIsUnknownWithTheErrno) {
  const FixtureRoot fixture("unreadable");
  const auto subsystem = detect::read_subsystem(fixture.host());
  EXPECT_EQ(subsystem.modules_disabled, Fact::unknown);
  EXPECT_THAT(notes_of(subsystem), HasSubstr("cannot read modules_disabled"));
}

TEST(ReadSubsystem, OddModulesDisabledContentIsUnknown) {
  const FixtureRoot fixture("clean");
  fixture.write("proc/sys/kernel/modules_disabled", "2\n");
  const auto subsystem = detect::read_subsystem(fixture.host());
  EXPECT_EQ(subsystem.modules_disabled, Fact::unknown);
  EXPECT_THAT(notes_of(subsystem), HasSubstr("holds '2'"));
}

TEST(ReadKernelRelease, RejectsAReleaseThatIsNotOnePathComponent) {
  const FixtureRoot fixture("clean");
  fixture.write("proc/sys/kernel/osrelease", "../../etc\n");
  const auto release = detect::read_kernel_release(fixture.host());
  EXPECT_NE(release.release, "../../etc");
  EXPECT_THAT(release.note, HasSubstr("not a kernel release"));
}

TEST(ModulesDirFor, FallsBackToUsrLibModules) {
  const FixtureRoot fixture("no_module_support");
  fixture.write("usr/lib/modules/6.1.0-fixture/modules.dep", "");
  EXPECT_EQ(detect::modules_dir_for(fixture.host(), "6.1.0-fixture"),
            fixture.path() / "usr/lib/modules/6.1.0-fixture");
}

TEST(CapabilityIn, ReadsOneBitOfAHexMask) {
  const std::string status = "Name:\tx\nCapEff:\t0000000000010000\nCapBnd:\t00000000a80425fb\n";
  EXPECT_EQ(detect::capability_in(status, "CapEff", 16), Fact::yes);
  EXPECT_EQ(detect::capability_in(status, "CapBnd", 16), Fact::no);
  EXPECT_EQ(detect::capability_in(status, "CapPrm", 16), Fact::unknown);
  EXPECT_EQ(detect::capability_in("CapEff:\tzz\n", "CapEff", 16), Fact::unknown);
}

}  // namespace
