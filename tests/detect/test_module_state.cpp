// detect/module_state.cpp: one state per module from loaded facts, the index and the markers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "detect/module_state.hpp"
#include "tests/detect/fixture_root.hpp"
#include "tests/support/fake_kernel.hpp"

namespace {

using detect::DiskState;
using detect::Fact;
using detect::LoadedView;
using detect::ModuleState;
using testing::HasSubstr;

detect::ModuleSpec spec(const std::string& name) {
  return {name, detect::Stack::native, detect::ModuleRole::core};
}

detect::ModuleSubsystem subsystem(Fact supported, bool index) {
  detect::ModuleSubsystem result;
  result.supported = supported;
  result.kernel_release = "6.1.0-test";
  result.modules_dir = "/lib/modules/6.1.0-test";
  result.modules_dir_exists = index;
  return result;
}

detect::ModuleLookup lookup(const std::string& name, DiskState disk, bool blacklisted = false) {
  detect::ModuleLookup result;
  result.name = name;
  result.disk = disk;
  result.blacklisted = blacklisted;
  if (disk == DiskState::available) result.path = "/lib/modules/6.1.0-test/" + name + ".ko";
  return result;
}

LoadedView proc_view(std::vector<detect::LoadedModule> modules) {
  LoadedView view;
  view.source = LoadedView::Source::proc_modules;
  view.modules = std::move(modules);
  return view;
}

detect::Markers readable() {
  detect::Markers markers;
  markers.proc_net_readable = true;
  return markers;
}

const detect::HostRoot kNowhere("/nonexistent-stackmgr-root");

TEST(ModuleStatus, LoadedComesFromTheViewWithRefcntAndHolders) {
  const auto status = detect::module_status(
      spec("xfrm_algo"), proc_view({{"xfrm_algo", detect::InitState::live, 2, {"esp4", "af_key"}}}),
      lookup("xfrm_algo", DiskState::available), subsystem(Fact::yes, true), readable(), {}, kNowhere);
  EXPECT_EQ(status.state, ModuleState::live);
  EXPECT_EQ(status.refcnt, 2);
  EXPECT_EQ(status.holders.size(), 2U);
  EXPECT_EQ(status.path, "/lib/modules/6.1.0-test/xfrm_algo.ko");
}

TEST(ModuleStatus, DashAndUnderscoreNamesMatch) {
  const auto status =
      detect::module_status(spec("xfrm-user"), proc_view({{"xfrm_user", detect::InitState::live, 0, {}}}),
                            lookup("xfrm_user", DiskState::available), subsystem(Fact::yes, true), readable(),
                            {"xfrm_user"}, kNowhere);
  EXPECT_EQ(status.state, ModuleState::live);
  EXPECT_TRUE(status.guarded);
}

TEST(ModuleStatus, NotLoadedTakesTheIndexState) {
  const auto sub = subsystem(Fact::yes, true);
  EXPECT_EQ(detect::module_status(spec("esp4"), proc_view({}), lookup("esp4", DiskState::available), sub,
                                  readable(), {}, kNowhere)
                .state,
            ModuleState::available);
  EXPECT_EQ(detect::module_status(spec("esp4"), proc_view({}), lookup("esp4", DiskState::available, true),
                                  sub, readable(), {}, kNowhere)
                .state,
            ModuleState::blacklisted);
  EXPECT_EQ(detect::module_status(spec("esp4"), proc_view({}), lookup("esp4", DiskState::builtin), sub,
                                  readable(), {}, kNowhere)
                .state,
            ModuleState::builtin);
  EXPECT_EQ(detect::module_status(spec("esp4"), proc_view({}), lookup("esp4", DiskState::absent), sub,
                                  readable(), {}, kNowhere)
                .state,
            ModuleState::absent);
}

TEST(ModuleStatus, UnknownIndexIsUnknownWithTheReason) {
  const auto status = detect::module_status(spec("esp4"), proc_view({}), lookup("esp4", DiskState::unknown),
                                            subsystem(Fact::yes, false), readable(), {}, kNowhere);
  EXPECT_EQ(status.state, ModuleState::unknown);
  EXPECT_THAT(status.note, HasSubstr("no module index for kernel 6.1.0-test"));
}

TEST(ModuleStatus, LookupErrorIsUnknownNeverAbsent) {
  const detect::Result<detect::ModuleLookup> failed = detect::Error{EIO, "reading modules.dep.bin"};
  const auto status = detect::module_status(spec("esp4"), proc_view({}), failed, subsystem(Fact::yes, true),
                                            readable(), {}, kNowhere);
  EXPECT_EQ(status.state, ModuleState::unknown);
  EXPECT_THAT(status.note, HasSubstr("Input/output error"));
}

TEST(ModuleStatus, WithoutLoadedFactsAnAvailableModuleIsUnknown) {
  LoadedView none;
  none.problem = "reading /proc/modules: Permission denied";
  const auto status = detect::module_status(spec("esp4"), none, lookup("esp4", DiskState::available),
                                            subsystem(Fact::yes, true), readable(), {}, kNowhere);
  EXPECT_EQ(status.state, ModuleState::unknown);
  EXPECT_THAT(status.note, HasSubstr("Permission denied"));
  EXPECT_THAT(status.note, HasSubstr("on disk"));
}

TEST(ModuleStatus, WithoutLoadedFactsABuiltinModuleIsStillBuiltin) {
  const auto status = detect::module_status(spec("esp4"), LoadedView{}, lookup("esp4", DiskState::builtin),
                                            subsystem(Fact::yes, true), readable(), {}, kNowhere);
  EXPECT_EQ(status.state, ModuleState::builtin);
}

TEST(ModuleStatus, NoModuleSupportInfersBuiltinFromTheMarker) {
  auto markers = readable();
  markers.proc_net_pfkey = true;
  const auto status =
      detect::module_status(spec("af_key"), LoadedView{}, lookup("af_key", DiskState::unknown),
                            subsystem(Fact::no, false), markers, {}, kNowhere);
  EXPECT_EQ(status.state, ModuleState::builtin);
  EXPECT_THAT(status.note, HasSubstr("inferred"));
}

TEST(ModuleStatus, NoModuleSupportWithoutIndexOrMarkerIsUnknown) {
  const auto af_key =
      detect::module_status(spec("af_key"), LoadedView{}, lookup("af_key", DiskState::unknown),
                            subsystem(Fact::no, false), readable(), {}, kNowhere);
  EXPECT_EQ(af_key.state, ModuleState::unknown);
  EXPECT_THAT(af_key.note, HasSubstr("/proc/net/pfkey is missing, so its code is not in this kernel"));
  const auto esp4 = detect::module_status(spec("esp4"), LoadedView{}, lookup("esp4", DiskState::unknown),
                                          subsystem(Fact::no, false), readable(), {}, kNowhere);
  EXPECT_EQ(esp4.state, ModuleState::unknown);
  EXPECT_THAT(esp4.note, HasSubstr("no module support"));
}

TEST(ModuleStatus, NoModuleSupportOnDiskIsNotLoadable) {
  const auto status = detect::module_status(spec("esp4"), LoadedView{}, lookup("esp4", DiskState::available),
                                            subsystem(Fact::no, true), readable(), {}, kNowhere);
  EXPECT_EQ(status.state, ModuleState::available);
  EXPECT_THAT(status.note, HasSubstr("cannot be loaded"));
}

TEST(ReadLoadedView, BackendFailureFallsBackToSysModule) {
  const detect_test::FixtureRoot fixture("unreadable");
  fake::FakeKernel kernel = fake::FakeKernel::from_fixture(fixture.host());
  kernel.fail_loaded_modules(EACCES);
  const auto view = detect::read_loaded_view(kernel, fixture.host(), subsystem(Fact::yes, true));
  EXPECT_EQ(view.source, LoadedView::Source::sysfs);
  EXPECT_THAT(view.problem, HasSubstr("Permission denied"));
}

TEST(ReadLoadedView, NoModuleSupportHasNoSource) {
  const detect_test::FixtureRoot fixture("no_module_support");
  const fake::FakeKernel kernel = fake::FakeKernel::from_fixture(fixture.host());
  const auto view = detect::read_loaded_view(kernel, fixture.host(), subsystem(Fact::no, false));
  EXPECT_EQ(view.source, LoadedView::Source::none);
}

}  // namespace
