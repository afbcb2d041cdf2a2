// `stackmgr stop`, the real binary: --unload acts on the running kernel only.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/stackmgr/cli/fixture_root.hpp"
#include "tests/stackmgr/cli/run_binary.hpp"

namespace stackmgr::cli {
namespace {

using ::testing::HasSubstr;

const std::string kBinary = STACKMGR_BINARY;

TEST(CmdStop, UnloadWithAnotherRootIsRefused) {
  testroot::FixtureRoot root;
  const auto ran = testrun::run(kBinary, {"--root", root.path().string(), "stop", "--unload"});
  EXPECT_EQ(ran.exit_code, 2) << ran.out << ran.err;
  EXPECT_THAT(ran.err, HasSubstr("refusing to stop --unload with --root " + root.path().string()));
}

}  // namespace
}  // namespace stackmgr::cli
