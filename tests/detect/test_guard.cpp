// detect/guard.cpp: reading stackmgr's autoload guard.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "detect/guard.hpp"
#include "tests/detect/fixture_root.hpp"

namespace {

using testing::ElementsAre;
using testing::IsEmpty;

TEST(ParseGuard, OnlyInstallFalseLinesGuard) {
  EXPECT_THAT(detect::parse_guard("# stackmgr\ninstall af_key /bin/false\ninstall esp4 /usr/bin/false\n"
                                  "install ah4 /bin/true\nblacklist ipcomp\ninstall xfrm-user /bin/false\n"
                                  "install esp6 /bin/false extra\ninstall ../x /bin/false\n"),
              ElementsAre("af_key", "esp4", "xfrm_user"));
}

TEST(ReadGuardedModules, ReadsTheGuardFileUnderTheRoot) {
  const detect_test::FixtureRoot fixture("guarded");
  EXPECT_THAT(detect::read_guarded_modules(fixture.host()), ElementsAre("af_key", "ah4", "esp4"));
  const detect_test::FixtureRoot clean("clean");
  EXPECT_THAT(detect::read_guarded_modules(clean.host()), IsEmpty());
}

}  // namespace
