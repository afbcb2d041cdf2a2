#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>

#include "stackmgr/run_capture.hpp"

namespace stackmgr {
namespace {

using ::testing::HasSubstr;

TEST(RunCapture, CapturesStdoutStderrAndExitCodeWithoutAShell) {
  const auto result = run_capture({"/usr/bin/printf", "%s|%s", "a b", "$HOME;ls"}, {"LC_ALL=C"});
  ASSERT_TRUE(result.ok()) << result.error().describe();
  EXPECT_EQ(result->exit_code, 0);
  EXPECT_EQ(result->out, "a b|$HOME;ls");  // arguments arrive verbatim: nothing expanded them
  const auto failing = run_capture({"/usr/bin/ls", "/nonexistent-stackmgr"}, {"LC_ALL=C"});
  ASSERT_TRUE(failing.ok());
  EXPECT_NE(failing->exit_code, 0);
  EXPECT_THAT(failing->err, HasSubstr("nonexistent-stackmgr"));
}

TEST(RunCapture, PassesExactlyTheGivenEnvironment) {
  const auto result = run_capture({"/usr/bin/env"}, {"ONLY=this"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->out, "ONLY=this\n");
}

TEST(RunCapture, MissingBinaryIsAnErrorWithItsErrno) {
  const auto result = run_capture({"/nonexistent/iptables-save"}, {});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ENOENT);
  EXPECT_FALSE(run_capture({"relative"}, {}).ok());
}

TEST(RunCapture, TimeoutKillsTheChild) {
  CaptureLimits limits;
  limits.timeout = std::chrono::milliseconds(200);
  const auto result = run_capture({"/usr/bin/sleep", "10"}, {}, limits);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ETIMEDOUT);
}

TEST(RunCapture, OutputBeyondTheLimitIsTruncatedNotBlocking) {
  CaptureLimits limits;
  limits.max_output = 1000;
  const auto result = run_capture({"/usr/bin/head", "-c", "100000", "/dev/zero"}, {}, limits);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->out.size(), 1000u);
  EXPECT_TRUE(result->truncated);
  EXPECT_EQ(result->exit_code, 0);
}

}  // namespace
}  // namespace stackmgr
