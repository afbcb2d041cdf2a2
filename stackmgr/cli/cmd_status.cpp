// `stackmgr status [--json]`: the running supervisor's view (over the control socket), or a
// detection-only view when none runs. LSB exit codes (StatusExit).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <iostream>
#include <memory>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/cli/commands.hpp"
#include "stackmgr/cli/status_view.hpp"
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
    if (failure.failure == control::ControlFailure::protocol ||
        failure.failure == control::ControlFailure::dropped) {
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
    std::cout << render_status(doc);
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
