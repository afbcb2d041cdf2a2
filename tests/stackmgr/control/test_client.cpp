// The control client without a supervisor to talk to (the server tests talk to a real one).

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

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

// A supervisor that reads the request, sends one progress line and closes: what a client of a
// supervisor that is stopped or killed in the middle of a switch sees.
TEST(ControlClient, AConnectionClosedBeforeTheResultIsDroppedNotAProtocolError) {
  char dir[] = "/tmp/stackmgr-client-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::filesystem::path path = std::filesystem::path(dir) / "control.sock";
  const int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  std::thread supervisor([listener] {
    const int client = ::accept(listener, nullptr, nullptr);
    if (client < 0) return;
    char request[512];
    (void)::recv(client, request, sizeof request, 0);
    const std::string progress = R"({"type":"progress","level":"info","message":"stopping pluto"})"
                                 "\n";
    (void)::send(client, progress.data(), progress.size(), MSG_NOSIGNAL);
    ::close(client);
  });
  int progress_lines = 0;
  auto outcome = call_supervisor(
      path, ControlRequest{ControlCommand::switch_stack, false, std::nullopt, false},
      [&progress_lines](const ControlReply&) { ++progress_lines; }, 5s);
  supervisor.join();
  ::close(listener);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(progress_lines, 1);
  ASSERT_TRUE(std::holds_alternative<ControlClientError>(outcome));
  EXPECT_EQ(std::get<ControlClientError>(outcome).failure, ControlFailure::dropped);
  EXPECT_NE(
      std::get<ControlClientError>(outcome).error.describe().find("closed the connection before its result"),
      std::string::npos);
}

}  // namespace
}  // namespace stackmgr::control
