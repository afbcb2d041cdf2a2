// The control client without a supervisor to talk to (the server tests talk to a real one).

#include <gtest/gtest.h>

#include <chrono>

#include "stackmgr/control/client.hpp"

namespace stackmgr::control {
namespace {

using namespace std::chrono_literals;

TEST(ControlClient, NoSupervisorIsNotRunning) {
  auto outcome =
      call_supervisor("/tmp/stackmgr-no-such-dir/control.sock",
                      ControlRequest{ControlCommand::status, false, std::nullopt, false}, nullptr, 1s);
  ASSERT_TRUE(std::holds_alternative<ControlClientError>(outcome));
  EXPECT_EQ(std::get<ControlClientError>(outcome).failure, ControlFailure::not_running);
}

}  // namespace
}  // namespace stackmgr::control
