// stackmgr/render_snapshot.cpp: the table `stackmgr detect` prints (tested here, with detect's
// fixtures, because it renders nothing but a detect::Snapshot).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "detect/detector.hpp"
#include "stackmgr/cli/render_snapshot.hpp"
#include "tests/detect/fixture_root.hpp"
#include "tests/support/fake_kernel.hpp"

namespace stackmgr::cli {
namespace {

using testing::HasSubstr;
using testing::Not;

std::string render_case(std::string_view name) {
  const detect_test::FixtureRoot fixture(name);
  const detect::HostRoot root = fixture.host();
  const detect::Catalog catalog = detect::Catalog::defaults();
  const fake::FakeKernel kernel = fake::FakeKernel::from_fixture(root, catalog);
  const detect::SysfsNetDevices net(root);
  return stackmgr::cli::render_snapshot(
      detect::detect_host(detect::DetectInputs{root, kernel, net, catalog}));
}

TEST(RenderSnapshot, ShowsOverallVerdictsModulesAndMarkers) {
  const std::string text = render_case("klips_live");
  EXPECT_THAT(text, HasSubstr("Overall: klips\n"));
  EXPECT_THAT(text, HasSubstr("klips   active\n"));
  EXPECT_THAT(text, HasSubstr("native  loadable\n"));
  EXPECT_THAT(text, testing::ContainsRegex("ipsec +klips +core +live +1  ipsec_aes"));
  EXPECT_THAT(text, HasSubstr("yes: FreeS/WAN version: 2.06"));
  EXPECT_THAT(text, testing::ContainsRegex("ipsecN interfaces \\(KLIPS\\) +ipsec0"));
}

TEST(RenderSnapshot, FlagsBlacklistedAndGuardedModules) {
  EXPECT_THAT(render_case("blacklisted_esp4"),
              testing::ContainsRegex("esp4 +native +core +blacklisted .* blacklisted"));
  EXPECT_THAT(render_case("guarded"), testing::ContainsRegex("af_key +native +core +available .* guarded"));
}

TEST(RenderSnapshot, IdenticalNotesArePrintedOnce) {
  const std::string text = render_case("no_module_support");
  EXPECT_THAT(text, HasSubstr("esp4, ah4, xfrm_user, xfrm4_tunnel"));
  const auto first = text.find("to tell whether it is built in\n");
  ASSERT_NE(first, std::string::npos);
  EXPECT_THAT(text.substr(text.find("MODULE ")), Not(HasSubstr("    note:")));
}

}  // namespace
}  // namespace stackmgr::cli
