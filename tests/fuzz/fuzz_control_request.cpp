// The control socket's untrusted side: one request line from a client into the supervisor
// (parse_control_request), and one reply line into the client (parse_control_reply). A request
// it accepts names a known command with only that command's fields, in protocol version 1, and
// reads back the same after control_request_line; what it refuses, it says why, briefly.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stackmgr/control/protocol.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stackmgr::control;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const auto request = parse_control_request(line);
  if (!request) {
    fuzz::require(request.error().code == 0);
    fuzz::require(!request.error().message.empty() && request.error().message.size() < 300);
  } else {
    const auto document = nlohmann::json::parse(line);
    if (document.contains("v")) fuzz::require(document["v"].is_number_integer() && document["v"] == 1);
    fuzz::require(request->command != ControlCommand::switch_stack || request->stack.has_value());
    const auto again = parse_control_request(control_request_line(*request));
    fuzz::require(again.ok());
    fuzz::require(again->command == request->command && again->unload == request->unload &&
                  again->stack == request->stack && again->dry_run == request->dry_run);
  }
  const auto reply = parse_control_reply(line);
  if (reply && reply->final) {
    fuzz::require(reply->exit_code >= 0 && reply->exit_code <= 255);
    const auto again = parse_control_reply(result_reply(reply->exit_code, reply->message, reply->data));
    fuzz::require(again.ok() && again->final && again->exit_code == reply->exit_code &&
                  again->message == reply->message);
  }
  return 0;
}
