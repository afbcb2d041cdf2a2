#include "stackmgr/control/protocol.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <optional>
#include <set>

namespace stackmgr::control {
namespace {

using nlohmann::json;

// The fields each command accepts (besides "v" and "cmd").
const std::map<std::string, std::set<std::string>, std::less<>>& allowed_fields() {
  static const std::map<std::string, std::set<std::string>, std::less<>> fields = {
      {"status", {}}, {"stop", {"unload"}}, {"switch", {"stack", "dry_run"}}};
  return fields;
}

detect::Result<bool> optional_bool(const json& object, const char* key) {
  auto found = object.find(key);
  if (found == object.end()) return false;
  if (!found->is_boolean()) return protocol_error(std::string("field '") + key + "' must be true or false");
  return found->get<bool>();
}

}  // namespace

detect::Error protocol_error(std::string message) { return detect::Error{0, std::move(message)}; }

std::string_view to_string(ControlCommand command) {
  switch (command) {
    case ControlCommand::status: return "status";
    case ControlCommand::stop: return "stop";
    case ControlCommand::switch_stack: return "switch";
  }
  return "unknown";
}

detect::Result<ControlRequest> parse_control_request(std::string_view line) {
  const json parsed = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return protocol_error("malformed request: not one line of JSON");
  if (!parsed.is_object()) return protocol_error("malformed request: expected a JSON object");
  auto version = parsed.find("v");
  // Compared as JSON numbers: get<int>() would wrap 4294967297 around to 1.
  if (version != parsed.end() && (!version->is_number_integer() || *version != kControlProtocolVersion)) {
    return protocol_error("unsupported protocol version: this supervisor speaks v" +
                          std::to_string(kControlProtocolVersion));
  }
  auto command_field = parsed.find("cmd");
  if (command_field == parsed.end() || !command_field->is_string()) {
    return protocol_error("malformed request: \"cmd\" (status, stop or switch) is missing");
  }
  const std::string command = command_field->get<std::string>();
  auto allowed = allowed_fields().find(command);
  if (allowed == allowed_fields().end()) {
    return protocol_error("unknown command '" + command.substr(0, 64) + "'; known: status, stop, switch");
  }
  for (const auto& [key, value] : parsed.items()) {
    if (key != "v" && key != "cmd" && allowed->second.count(key) == 0) {
      return protocol_error("unknown field '" + key.substr(0, 64) + "' for " + command);
    }
  }
  ControlRequest request;
  if (command == "status") {
    request.command = ControlCommand::status;
  } else if (command == "stop") {
    request.command = ControlCommand::stop;
    auto unload = optional_bool(parsed, "unload");
    if (!unload) return unload.error();
    request.unload = *unload;
  } else {
    request.command = ControlCommand::switch_stack;
    auto stack = parsed.find("stack");
    if (stack == parsed.end() || !stack->is_string()) {
      return protocol_error("switch needs \"stack\": \"native\" or \"klips\"");
    }
    request.stack = detect::parse_stack(stack->get<std::string>());
    if (!request.stack)
      return protocol_error("unknown stack '" + stack->get<std::string>().substr(0, 64) + "'");
    auto dry_run = optional_bool(parsed, "dry_run");
    if (!dry_run) return dry_run.error();
    request.dry_run = *dry_run;
  }
  return request;
}

std::string control_request_line(const ControlRequest& request) {
  json line = {{"v", kControlProtocolVersion}, {"cmd", std::string(to_string(request.command))}};
  if (request.command == ControlCommand::stop && request.unload) line["unload"] = true;
  if (request.command == ControlCommand::switch_stack) {
    if (request.stack) line["stack"] = std::string(detect::to_string(*request.stack));
    if (request.dry_run) line["dry_run"] = true;
  }
  return line.dump();
}

std::string progress_reply(std::string_view level, std::string_view message) {
  return json{{"type", "progress"}, {"level", level}, {"message", message}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

std::string result_reply(int exit_code, std::string_view message, const json& data) {
  json line = {{"type", "result"}, {"ok", exit_code == 0}, {"exit", exit_code}, {"message", message}};
  if (!data.is_null()) line["data"] = data;
  return line.dump(-1, ' ', false, json::error_handler_t::replace);
}

detect::Result<ControlReply> parse_control_reply(std::string_view line) {
  const json parsed = json::parse(line, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("type") ||
      !parsed["type"].is_string()) {
    return protocol_error("the supervisor sent a malformed reply line");
  }
  // Fields of the wrong type are errors, never exceptions: json::value() throws on them.
  const auto text_field = [&parsed](const char* key, std::string fallback) -> std::optional<std::string> {
    const auto found = parsed.find(key);
    if (found == parsed.end()) return fallback;
    if (!found->is_string()) return std::nullopt;
    return found->get<std::string>();
  };
  ControlReply reply;
  const std::string type = parsed["type"].get<std::string>();
  const auto message = text_field("message", "");
  if (!message) return protocol_error("the supervisor sent a reply whose message is not text");
  reply.message = *message;
  if (type == "progress") {
    const auto level = text_field("level", "info");
    if (!level) return protocol_error("the supervisor sent a progress line whose level is not text");
    reply.level = *level;
    return reply;
  }
  const auto exit_code = parsed.find("exit");
  if (type != "result" || exit_code == parsed.end() || !exit_code->is_number_integer()) {
    return protocol_error("the supervisor sent a reply of unknown type '" + type.substr(0, 64) + "'");
  }
  // An exit status is 0..255; a wider number must not wrap around to 0, "done".
  if (*exit_code < 0 || *exit_code > 255) {
    return protocol_error("the supervisor sent a result with exit status " + exit_code->dump() +
                          ", outside 0..255");
  }
  const auto ok = parsed.find("ok");
  if (ok != parsed.end() && !ok->is_boolean())
    return protocol_error("the supervisor sent a result whose 'ok' is not true or false");
  reply.final = true;
  reply.exit_code = exit_code->get<int>();
  reply.ok = ok != parsed.end() && ok->get<bool>();
  if (parsed.contains("data")) reply.data = parsed["data"];
  return reply;
}

}  // namespace stackmgr::control
