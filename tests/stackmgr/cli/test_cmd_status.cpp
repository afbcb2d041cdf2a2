// `stackmgr status`, the real binary, against a control socket that answers what a busy or
// broken supervisor could: never an exception (exit 1), always LSB 4 "unknown" and why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <thread>

#include "tests/stackmgr/cli/run_binary.hpp"
#include "tests/stackmgr/cli/temp_config.hpp"

namespace stackmgr::cli {
namespace {

using ::testing::HasSubstr;

const std::string kBinary = STACKMGR_BINARY;

// Listens on run_dir/control.sock and answers each of `connections` clients with `reply` (one
// line), whatever they ask.
class ScriptedSupervisor {
 public:
  ScriptedSupervisor(const testconfig::TempConfig& config, std::string reply, int connections = 1)
      : reply_(std::move(reply)) {
    ::mkdir(config.run_dir().c_str(), 0700);
    const std::string path = (config.run_dir() / "control.sock").string();
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd_, 4) != 0) {
      std::abort();
    }
    thread_ = std::thread([this, connections] {
      for (int i = 0; i < connections; ++i) {
        const int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) return;
        char buffer[512];
        (void)::recv(client, buffer, sizeof buffer, 0);
        const std::string line = reply_ + "\n";
        (void)::send(client, line.data(), line.size(), MSG_NOSIGNAL);
        ::close(client);
      }
    });
  }
  ScriptedSupervisor(const ScriptedSupervisor&) = delete;
  ScriptedSupervisor& operator=(const ScriptedSupervisor&) = delete;
  ~ScriptedSupervisor() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }

 private:
  std::string reply_;
  int fd_ = -1;
  std::thread thread_;
};

TEST(CmdStatus, ARefusalWithoutAStatusDocumentIsUnknownAndSaysWhy) {
  if (::geteuid() != 0) GTEST_SKIP() << "stackmgr trusts only a root-owned config";
  testconfig::TempConfig config;
  const ScriptedSupervisor busy(
      config,
      R"({"type":"result","ok":false,"exit":6,"message":"busy: too many control connections at once; try again"})",
      2);
  for (const bool json : {false, true}) {
    std::vector<std::string> args{"--config", config.file().string(), "status"};
    if (json) args.emplace_back("--json");
    const auto ran = testrun::run(kBinary, args);
    EXPECT_EQ(ran.exit_code, 4) << "LSB: unknown; " << ran.out << ran.err;
    EXPECT_THAT(ran.err,
                HasSubstr("the supervisor did not give its status: busy: too many control connections"));
    EXPECT_THAT(ran.err, ::testing::Not(HasSubstr("internal error")));
  }
}

TEST(CmdStatus, AReplyWithMembersOfTheWrongTypeIsUnknownNotACrash) {
  if (::geteuid() != 0) GTEST_SKIP() << "stackmgr trusts only a root-owned config";
  testconfig::TempConfig config;
  const ScriptedSupervisor odd(config, R"({"type":"result","ok":"yes","exit":0,"message":5})");
  const auto ran = testrun::run(kBinary, {"--config", config.file().string(), "status"});
  EXPECT_EQ(ran.exit_code, 4) << ran.out << ran.err;
  EXPECT_THAT(ran.err, HasSubstr("the supervisor did not answer properly"));
  EXPECT_THAT(ran.err, ::testing::Not(HasSubstr("internal error")));
}

TEST(CmdStatus, AStatusDocumentWithMissingOrOddMembersIsStillShown) {
  if (::geteuid() != 0) GTEST_SKIP() << "stackmgr trusts only a root-owned config";
  testconfig::TempConfig config;
  const ScriptedSupervisor sparse(
      config,
      R"({"type":"result","ok":true,"exit":0,"message":"running","data":{"supervisor":{"running":"yes","uptime_s":"long"},"daemon":{"pid":"x","last_exit":{"ago_s":"soon"}},"modules":[1,{"role":"core"}],"watch":{"events":[{"at":"noon"}]}}})");
  const auto ran = testrun::run(kBinary, {"--config", config.file().string(), "status"});
  EXPECT_EQ(ran.exit_code, 0) << ran.out << ran.err;
  EXPECT_THAT(ran.out, HasSubstr("stackmgr: not running")) << "\"running\": \"yes\" is not true";
  EXPECT_THAT(ran.err, ::testing::Not(HasSubstr("internal error")));
}

}  // namespace
}  // namespace stackmgr::cli
