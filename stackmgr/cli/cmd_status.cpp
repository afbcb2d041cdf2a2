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

std::string text_of(const json& value, const std::string& fallback = "-") {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return value.dump();
  return fallback;
}

// The module watch: its state and the last events with the reactions taken.
void render_watch(std::ostringstream& out, const json& watch) {
  if (!watch.is_object()) return;
  out << "watch:    " << text_of(watch["state"]);
  if (!text_of(watch["reason"], "").empty()) out << ": " << text_of(watch["reason"]);
  out << " (" << text_of(watch["ignored_events"]) << " unrelated events ignored)\n";
  if (!watch["events"].is_array()) return;
  for (const auto& record : watch["events"]) {
    const double at = record.value("at", 0.0);
    const auto seconds = static_cast<std::time_t>(at);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[32];
    if (std::strftime(stamp, sizeof stamp, "%H:%M:%S", &utc) == 0) stamp[0] = '\0';
    out << "          " << stamp << " " << text_of(record["events"]) << " -> " << text_of(record["reaction"]);
    if (!text_of(record["message"], "").empty()) out << ": " << text_of(record["message"]);
    out << "\n";
  }
}

std::string render(const json& doc) {
  std::ostringstream out;
  const json& supervisor = doc["supervisor"];
  if (supervisor.value("running", false)) {
    out << "stackmgr: " << text_of(supervisor["phase"]) << ", pid " << text_of(supervisor["pid"]) << ", up "
        << duration_text(supervisor.value("uptime_s", 0.0)) << " (modules.mode "
        << text_of(supervisor["module_mode"]) << ")\n";
    out << "          " << text_of(supervisor["status"]) << "\n";
    if (doc.contains("module_work") && doc["module_work"].is_object()) {
      const json& work = doc["module_work"];
      out << "          " << text_of(work["doing"]) << " for " << duration_text(work.value("for_s", 0.0));
      if (!text_of(work["step"], "").empty()) out << ": " << text_of(work["step"]);
      out << "\n";
    }
  } else {
    out << "stackmgr: not running";
    if (supervisor.value("pid_file", std::string()) == "stale") {
      out << " (a pid file is left: the supervisor"
          << (supervisor.contains("pid") ? " pid " + text_of(supervisor["pid"]) : "") << " is gone)";
    }
    out << "\n";
    if (doc.contains("last_run") && doc["last_run"].is_object()) {
      const json& last = doc["last_run"]["supervisor"];
      out << "last run: ended with exit " << text_of(last["exit"]) << ": " << text_of(last["status"]) << "\n";
    }
  }
  const json& stack = doc["stack"];
  out << "stack:    " << (supervisor.value("running", false) ? "" : "start would choose ")
      << text_of(stack["explanation"], text_of(stack["chosen"], "none")) << "\n";
  out << "          in the kernel: " << text_of(stack["active"], "none") << " (" << text_of(doc["overall"])
      << ")\n";
  const json& daemon = doc["daemon"];
  if (daemon.is_object()) {
    out << "daemon:   " << text_of(daemon["name"]) << " " << text_of(daemon["state"]);
    if (daemon["pid"].is_number()) out << ", pid " << text_of(daemon["pid"]);
    if (daemon["uptime_s"].is_number()) out << ", up " << duration_text(daemon["uptime_s"].get<double>());
    out << ", restarts " << text_of(daemon["restarts"]);
    if (daemon["last_exit"].is_object()) {
      out << "; last exit: " << text_of(daemon["last_exit"]["description"]);
      if (daemon["last_exit"].contains("ago_s")) {
        out << " " << duration_text(daemon["last_exit"]["ago_s"].get<double>()) << " ago";
      }
    }
    if (daemon.contains("failure")) out << "\n          failed: " << text_of(daemon["failure"]);
    out << "\n";
  }
  const json& kernel = doc["kernel"];
  if (kernel.contains("error")) {
    out << "kernel:   SAD/SPD not readable: " << text_of(kernel["error"]) << "\n";
  } else if (kernel.is_object()) {
    out << "kernel:   " << text_of(kernel["sas"]) << " SAs, " << text_of(kernel["policies"]) << " policies ("
        << text_of(kernel["main_policies"]) << " main, " << text_of(kernel["sub_policies"]) << " sub)\n";
  }
  render_watch(out, doc.contains("watch") ? doc["watch"]
                                          : (doc.contains("last_run") && doc["last_run"].is_object()
                                                 ? doc["last_run"].value("watch", json())
                                                 : json()));
  if (doc["modules"].is_array()) {
    const std::string chosen = text_of(stack["chosen"], "");
    out << "modules: ";
    for (const auto& module : doc["modules"]) {
      if (module.value("role", std::string()) != "core") continue;
      if (!chosen.empty() && module.value("stack", std::string()) != chosen) continue;
      out << " " << text_of(module["name"]) << " " << text_of(module["state"]);
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
