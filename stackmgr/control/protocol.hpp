#pragma once
// The control protocol of a running supervisor (docs/supervisor.md): the client sends ONE JSON
// request line; the server answers with zero or more progress lines and one final result line,
// then closes:
//   -> {"v":1,"cmd":"stop","unload":true}
//   <- {"type":"progress","level":"info","message":"stopping pluto (pid 42): SIGTERM ..."}
//   <- {"type":"result","ok":true,"exit":0,"message":"stopped","data":{...}}
// Pure text in and out; server.hpp and client.hpp carry it over the socket.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "detect/error.hpp"
#include "detect/stack.hpp"

namespace stackmgr::control {

inline constexpr int kControlProtocolVersion = 1;

enum class ControlCommand { status, stop, switch_stack };
std::string_view to_string(ControlCommand command);

struct ControlRequest {
  ControlCommand command = ControlCommand::status;
  bool unload = false;                 // stop: also unload the modules stackmgr loaded
  std::optional<detect::Stack> stack;  // switch: the target (required)
  bool dry_run = false;                // switch: print the plan only
};

// Validates one request line: a JSON object with "cmd" (status|stop|switch), optional "v" (1),
// and only the fields that command takes, each of the right type. Error code 0, message fit
// for the reply ("unknown field 'x' for stop").
detect::Result<ControlRequest> parse_control_request(std::string_view line);
// The request as one JSON line (no newline).
std::string control_request_line(const ControlRequest& request);

// One reply line, parsed. (The NOLINT: clang-tidy sees a throw in nlohmann::json's noexcept
// move, which only asserts.)
struct ControlReply {  // NOLINT(bugprone-exception-escape)
  bool final = false;  // "result" (the last line) or "progress"
  std::string level;   // progress: debug|info|warn|error
  std::string message;
  bool ok = false;      // result
  int exit_code = 0;    // result: the Exit code the client should exit with
  nlohmann::json data;  // result: command-specific (status: the stackmgr.status/1 document)
};
// Reply lines as JSON text (no newline).
std::string progress_reply(std::string_view level, std::string_view message);
std::string result_reply(int exit_code, std::string_view message, const nlohmann::json& data = nullptr);
detect::Result<ControlReply> parse_control_reply(std::string_view line);

// A protocol error: code 0 and a message fit for the reply or the log.
detect::Error protocol_error(std::string message);

}  // namespace stackmgr::control
