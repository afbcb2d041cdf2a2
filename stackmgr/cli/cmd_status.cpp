// `stackmgr status [--json]`: the running supervisor's view (over the control socket), or a
// detection-only view when none runs. LSB exit codes (StatusExit).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <ctime>
#include <iostream>
#include <memory>
#include <sstream>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/cli/commands.hpp"
#include "stackmgr/control/client.hpp"
#include "stackmgr/os/pid_file.hpp"
#include "stackmgr/supervisor/real_supervisor_host.hpp"
#include "stackmgr/supervisor/supervisor.hpp"
#include "stackmgr/switch/stack_ready.hpp"

namespace stackmgr::cli {
namespace {

using nlohmann::json;

constexpr const char* kStatusHelp =
    R"(Exit codes (LSB): 0 running and the daemon is up; 1 not running, but a pid file is
left (the last run failed: see "last run"); 3 not running; 4 unknown (no permission,
no answer, or the daemon is starting, restarting or stopping).
JSON schema stackmgr.status/1: docs/supervisor.md)";

struct StatusOptions {
  bool json = false;
};

std::string duration_text(double seconds) {
  const long total = std::lround(seconds);
  std::ostringstream out;
  if (total >= 86400) out << total / 86400 << "d ";
  if (total >= 3600) out << (total / 3600) % 24 << "h ";
  if (total >= 60) out << (total / 60) % 60 << "m ";
  out << total % 60 << "s";
  return out.str();
}

// The documents rendered here come from another process (the supervisor) or a file
// (last-run.json): nothing in them is assumed. A member that is missing, or of another type,
// reads as null, false or the fallback.
const json& member(const json& object, const char* key) {
  static const json kNull;
  if (!object.is_object()) return kNull;
  const auto found = object.find(key);
  return found == object.end() ? kNull : *found;
}

bool flag(const json& object, const char* key) {
  const json& value = member(object, key);
  return value.is_boolean() && value.get<bool>();
}

double number(const json& object, const char* key, double fallback = 0.0) {
  const json& value = member(object, key);
  return value.is_number() ? value.get<double>() : fallback;
}

std::string text_of(const json& value, const std::string& fallback = "-") {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return value.dump();
  return fallback;
}

// The module watch: its state and the last events with the reactions taken.
void render_watch(std::ostringstream& out, const json& watch) {
  if (!watch.is_object()) return;
  out << "watch:    " << text_of(member(watch, "state"));
  if (!text_of(member(watch, "reason"), "").empty()) out << ": " << text_of(member(watch, "reason"));
  out << " (" << text_of(member(watch, "ignored_events")) << " unrelated events ignored)\n";
  if (!member(watch, "events").is_array()) return;
  for (const auto& record : member(watch, "events")) {
    const auto seconds = static_cast<std::time_t>(number(record, "at"));
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[32];
    if (std::strftime(stamp, sizeof stamp, "%H:%M:%S", &utc) == 0) stamp[0] = '\0';
    out << "          " << stamp << " " << text_of(member(record, "events")) << " -> "
        << text_of(member(record, "reaction"));
    if (!text_of(member(record, "message"), "").empty()) out << ": " << text_of(member(record, "message"));
    out << "\n";
  }
}

std::string render(const json& doc) {
  std::ostringstream out;
  const json& supervisor = member(doc, "supervisor");
  const bool running = flag(supervisor, "running");
  if (running) {
    out << "stackmgr: " << text_of(member(supervisor, "phase")) << ", pid "
        << text_of(member(supervisor, "pid")) << ", up " << duration_text(number(supervisor, "uptime_s"))
        << " (modules.mode " << text_of(member(supervisor, "module_mode")) << ")\n";
    out << "          " << text_of(member(supervisor, "status")) << "\n";
  } else {
    out << "stackmgr: not running";
    if (text_of(member(supervisor, "pid_file"), "") == "stale") {
      out << " (a pid file is left: the supervisor"
          << (member(supervisor, "pid").is_null() ? "" : " pid " + text_of(member(supervisor, "pid")))
          << " is gone)";
    }
    out << "\n";
    const json& last = member(member(doc, "last_run"), "supervisor");
    if (last.is_object()) {
      out << "last run: ended with exit " << text_of(member(last, "exit")) << ": "
          << text_of(member(last, "status")) << "\n";
    }
  }
  const json& stack = member(doc, "stack");
  out << "stack:    " << (running ? "" : "start would choose ")
      << text_of(member(stack, "explanation"), text_of(member(stack, "chosen"), "none")) << "\n";
  out << "          in the kernel: " << text_of(member(stack, "active"), "none") << " ("
      << text_of(member(doc, "overall")) << ")\n";
  const json& daemon = member(doc, "daemon");
  if (daemon.is_object()) {
    out << "daemon:   " << text_of(member(daemon, "name")) << " " << text_of(member(daemon, "state"));
    if (member(daemon, "pid").is_number()) out << ", pid " << text_of(member(daemon, "pid"));
    if (member(daemon, "uptime_s").is_number()) out << ", up " << duration_text(number(daemon, "uptime_s"));
    out << ", restarts " << text_of(member(daemon, "restarts"));
    const json& last_exit = member(daemon, "last_exit");
    if (last_exit.is_object()) {
      out << "; last exit: " << text_of(member(last_exit, "description"));
      if (member(last_exit, "ago_s").is_number())
        out << " " << duration_text(number(last_exit, "ago_s")) << " ago";
    }
    if (!member(daemon, "failure").is_null())
      out << "\n          failed: " << text_of(member(daemon, "failure"));
    out << "\n";
  }
  const json& kernel = member(doc, "kernel");
  if (!member(kernel, "error").is_null()) {
    out << "kernel:   SAD/SPD not readable: " << text_of(member(kernel, "error")) << "\n";
  } else if (kernel.is_object()) {
    out << "kernel:   " << text_of(member(kernel, "sas")) << " SAs, " << text_of(member(kernel, "policies"))
        << " policies (" << text_of(member(kernel, "main_policies")) << " main, "
        << text_of(member(kernel, "sub_policies")) << " sub)\n";
  }
  render_watch(out, doc.contains("watch") ? member(doc, "watch") : member(member(doc, "last_run"), "watch"));
  if (member(doc, "modules").is_array()) {
    const std::string chosen = text_of(member(stack, "chosen"), "");
    out << "modules: ";
    for (const auto& module : member(doc, "modules")) {
      if (text_of(member(module, "role"), "") != "core") continue;
      if (!chosen.empty() && text_of(member(module, "stack"), "") != chosen) continue;
      out << " " << text_of(member(module, "name")) << " " << text_of(member(module, "state"));
    }
    out << "\n";
  }
  return out.str();
}

// No supervisor: what detection sees, what start would choose, and how the last run ended.
json detection_only(const GlobalOptions& global, const config::Config& config,
                    const os::PidFileProbe& probe) {
  supervisor::RealStackHost host(detect::HostRoot(global.root), config);
  const detect::Snapshot snapshot = host.detect();
  json doc;
  doc["schema"] = "stackmgr.status/1";
  doc["supervisor"] = {{"running", false},
                       {"pid_file", probe.state == os::PidFileState::stale ? "stale" : "absent"},
                       {"module_mode", std::string(to_string(config.module_mode))}};
  if (probe.pid) doc["supervisor"]["pid"] = *probe.pid;
  const switching::ResolvedStack resolved = switching::resolve_stack(config, std::nullopt, snapshot);
  doc["stack"] = {
      {"chosen", resolved.stack ? json(std::string(detect::to_string(*resolved.stack))) : json(nullptr)},
      {"source", std::string(to_string(resolved.source))},
      {"explanation", resolved.stack ? resolved.explanation : resolved.message}};
  doc["daemon"] = nullptr;
  json kernel = supervisor::kernel_status_json(snapshot);
  for (auto& [key, value] : kernel.items()) doc[key] = value;
  doc["stack"]["active"] = kernel["active"];
  if (auto last = supervisor::read_last_run(config.paths)) doc["last_run"] = *last;
  return doc;
}

int run_status(const GlobalOptions& global, const StatusOptions& options) {
  auto config = load_config_or_log(global);
  if (!config) return code(base::StatusExit::unknown);
  auto outcome = control::call_supervisor(
      config->paths.control_socket(),
      control::ControlRequest{control::ControlCommand::status, false, std::nullopt, false}, nullptr,
      std::chrono::milliseconds(10000));
  json doc;
  int exit_code = code(base::StatusExit::unknown);
  if (auto* reply = std::get_if<control::ControlReply>(&outcome)) {
    if (!reply->data.is_object()) {
      // A refusal without a document (busy with too many connections, a request it rejected):
      // the supervisor runs, but its state is not known to us.
      spdlog::error("the supervisor did not give its status: {}", reply->message);
      return code(base::StatusExit::unknown);
    }
    doc = reply->data;
    exit_code = reply->exit_code;
  } else {
    const auto& failure = std::get<control::ControlClientError>(outcome);
    if (failure.failure == control::ControlFailure::permission) {
      spdlog::error("{}: only root may ask the supervisor", failure.error.describe());
      return code(base::StatusExit::unknown);
    }
    if (failure.failure == control::ControlFailure::protocol) {
      spdlog::error("the supervisor did not answer properly: {}", failure.error.describe());
      return code(base::StatusExit::unknown);
    }
    auto probe = os::probe_pid_file(config->paths.pid_file());
    const os::PidFileProbe state = probe ? *probe : os::PidFileProbe{};
    doc = detection_only(global, *config, state);
    exit_code = state.state == os::PidFileState::stale    ? code(base::StatusExit::dead_with_pidfile)
                : state.state == os::PidFileState::locked ? code(base::StatusExit::unknown)
                                                          : code(base::StatusExit::not_running);
  }
  if (options.json) {
    std::cout << doc.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  } else {
    std::cout << render(doc);
  }
  std::cout.flush();
  return exit_code;
}

}  // namespace

void add_status_command(CLI::App& app, const GlobalOptions& global, Command& chosen) {
  auto options = std::make_shared<StatusOptions>();
  CLI::App* command =
      app.add_subcommand("status", "Show the supervisor, the daemon, the stack and the SAD/SPD");
  command->add_flag("--json", options->json, "Print the JSON schema stackmgr.status/1");
  command->footer(kStatusHelp);
  command->callback(
      [&global, &chosen, options] { chosen = [&global, options] { return run_status(global, *options); }; });
}

}  // namespace stackmgr::cli
