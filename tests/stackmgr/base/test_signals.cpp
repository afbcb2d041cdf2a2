#include <gtest/gtest.h>

#include <csignal>

#include "stackmgr/base/log_level.hpp"
#include "stackmgr/base/signals.hpp"

namespace stackmgr::base {
namespace {

TEST(SignalName, NamesKnownSignalsAndNumbersTheRest) {
  EXPECT_EQ(signal_name(SIGTERM), "SIGTERM");
  EXPECT_EQ(signal_name(SIGKILL), "SIGKILL");
  EXPECT_EQ(signal_name(1000), "signal 1000");
}

TEST(LogLevel, SpelledAsTheControlProtocolSpellsIt) {
  EXPECT_EQ(to_string(LogLevel::debug), "debug");
  EXPECT_EQ(to_string(LogLevel::info), "info");
  EXPECT_EQ(to_string(LogLevel::warn), "warn");
  EXPECT_EQ(to_string(LogLevel::error), "error");
}

}  // namespace
}  // namespace stackmgr::base
