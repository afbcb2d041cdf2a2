// `stackmgr switch <stack>`: through the running supervisor when there is one (it stops the
// daemon, switches, starts it again), else directly under the lock; each step shown live.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

#include "modules/planner.hpp"
#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/cli/commands.hpp"
#include "stackmgr/cli/switch_output.hpp"
#include "stackmgr/control/client.hpp"
#include "stackmgr/os/xfrm_netlink.hpp"
#include "stackmgr/switch/real_switch_host.hpp"
#include "stackmgr/switch/recovery.hpp"
#include "stackmgr/switch/switch_direct.hpp"

namespace stackmgr::cli {
namespace {

constexpr const char* kSwitchHelp =
    R"(Switches the kernel's IPsec stack. With a supervisor running ('stackmgr start'), it
does the switch: stops the keying daemon, flushes, unloads the old stack, loads and verifies
the new one, sets or clears the autoload guard, starts the daemon again and waits for it to be
ready; a failed step rolls back to the old stack and restarts the daemon there. Without one,
the switch is direct: lock, detect, plan (as 'stackmgr plan'), execute, verify. Either way a
journal makes it crash-safe and a successful switch is recorded for the next 'start'
(docs/switch.md). The switch drops every tunnel: with tunnels up and stdin not a terminal it
needs --yes. Needs root.
Exit codes:
  0  done, or already there
  2  usage: unknown stack name, or --root (a switch acts on the running kernel only)
  3  refused by a safety rule; nothing was changed
  4  a step failed; the host was rolled back to where it was
  5  a step failed and the rollback failed too; the state is reported
  6  busy: another stackmgr holds the lock (after --timeout, or at once with --no-wait)
  7  config error, or an untrusted lock directory or file (a run_dir stackmgr did not make)
  9  not root
 14  tunnels are up and stdin is not a terminal: pass --yes
 15  a file system refused the journal or the lock (read-only, full, no permission)
 16  a stop, or the supervisor's end, cut the switch short; the next 'start' finishes or
     rolls it back from the journal)";

struct SwitchOptions {
  std::string stack;
  bool json = false;
  bool allow_ipcomp = false;
  bool no_wait = false;
  bool dry_run = false;
  bool yes = false;
  double timeout_seconds = -1;  // < 0: the config's lock_timeout
};

// The supervisor's status, or nullopt when none is running (or it cannot be asked).
std::optional<control::ControlReply> running_supervisor(const config::Config& config) {
  control::ControlRequest status;
  auto reply = control::call_supervisor(config.paths.control_socket(), status, nullptr,
                                        std::chrono::milliseconds(5000));
  if (auto* answer = std::get_if<control::ControlReply>(&reply)) return *answer;
  return std::nullopt;
}

// --dry-run: the module plan, framed by the daemon steps a running supervisor would add.
int dry_run(const GlobalOptions& global, const config::Config& config, detect::Stack target,
            bool allow_ipcomp) {
  switching::RealSwitchHost host(detect::HostRoot(global.root), config.catalog, config.paths);
  switching::ModuleRecord record;
  if (auto loaded = switching::ModuleRecord::load(host.module_record())) record = std::move(loaded).value();
  modules::PlanOrRefusal planned = modules::plan_switch(
      host.detect(), target,
      switching::policy_with_record(switching::policy_from(config, allow_ipcomp), record));
  if (auto* plan = std::get_if<modules::Plan>(&planned);
      plan && config.module_mode == config::ModuleMode::external) {
    if (auto refusal = switching::external_mode_refusal(*plan)) planned = std::move(*refusal);
  }
  if (auto* refusal = std::get_if<modules::Refusal>(&planned)) {
    std::cout << render_refusal(*refusal);
    return code(base::Exit::refused);
  }
  const std::optional<control::ControlReply> supervisor =
      detect::HostRoot(global.root).is_real_root() ? running_supervisor(config) : std::nullopt;
  std::string daemon = "the keying daemon";
  if (supervisor && supervisor->data.is_object() && supervisor->data.contains("daemon") &&
      supervisor->data["daemon"].is_object()) {
    const auto& d = supervisor->data["daemon"];
    if (d.contains("name") && d["name"].is_string()) daemon = d["name"].get<std::string>();
    if (d.contains("pid") && d["pid"].is_number())
      daemon += " (pid " + std::to_string(d["pid"].get<int>()) + ")";
  }
  if (supervisor) {
    std::cout << "Through the running supervisor:\n  before: stop " << daemon
              << ", then flush the native SAD and SPD (XFRM netlink)\n";
  } else {
    std::cout << "No supervisor is running: a direct switch (no daemon is stopped or started).\n";
  }
  std::cout << render_plan(std::get<modules::Plan>(planned));
  if (supervisor) {
    std::cout << "  after: start " << daemon.substr(0, daemon.find(" (pid")) << " on the "
              << detect::to_string(target)
              << " stack and wait for its readiness; on failure, roll back and restart it on the old stack\n";
  }
  std::cout << "(dry run: nothing was changed)\n";
  return code(base::Exit::ok);
}

// A switch drops every SA and policy: with tunnels up, ask (terminal) or demand --yes.
std::optional<int> confirm_dropping_tunnels(bool yes, detect::Stack target,
                                            const detect::Snapshot& snapshot) {
  if (os::xfrm_netlink_would_load_module(snapshot)) return std::nullopt;  // no xfrm_user: no netlink tunnels
  const auto counts = os::count_xfrm();
  if (!counts || (counts->sas == 0 && counts->main_policies == 0)) return std::nullopt;
  const std::string what = std::to_string(counts->sas) + " SAs and " + std::to_string(counts->main_policies) +
                           " policies are in the kernel";
  if (yes) {
    spdlog::warn("{}: switching to {} drops every tunnel (--yes given)", what, detect::to_string(target));
    return std::nullopt;
  }
  if (isatty(STDIN_FILENO) == 0) {
    spdlog::error(
        "{}: switching to {} drops every tunnel until the daemon brings them up again; stdin is not "
        "a terminal, so pass --yes to confirm",
        what, detect::to_string(target));
    return code(base::Exit::confirmation);
  }
  std::cout << what << ": switching to " << detect::to_string(target)
            << " drops every tunnel. Continue? [y/N] ";
  std::cout.flush();
  std::string answer;
  std::getline(std::cin, answer);
  if (answer == "y" || answer == "Y" || answer == "yes") return std::nullopt;
  spdlog::error("not switching: not confirmed");
  return code(base::Exit::confirmation);
}

// Through the running supervisor; nullopt when none is running (then switch directly).
std::optional<int> switch_through_supervisor(const config::Config& config, detect::Stack target, bool json) {
  control::ControlRequest request;
  request.command = control::ControlCommand::switch_stack;
  request.stack = target;
  const auto idle = config.lock_timeout + config.daemon.stop_timeout + config.daemon.ready_timeout +
                    std::chrono::milliseconds(30000);
  auto reply = control::call_supervisor(
      config.paths.control_socket(), request,
      [json](const control::ControlReply& line) {
        if (!json) std::cout << (line.level == "info" ? "" : line.level + ": ") << line.message << std::endl;
      },
      std::chrono::duration_cast<std::chrono::milliseconds>(idle));
  if (auto* failure = std::get_if<control::ControlClientError>(&reply)) {
    if (failure->failure == control::ControlFailure::not_running) return std::nullopt;
    spdlog::error("talking to the supervisor: {}", failure->error.describe());
    if (failure->failure == control::ControlFailure::dropped) {
      spdlog::error(
          "the supervisor stopped or died before the switch's result; whatever it had begun is in its "
          "journal, and "
          "the next 'stackmgr start' finishes or rolls it back ('stackmgr status' and 'stackmgr detect' show "
          "the "
          "state now)");
      return code(base::Exit::interrupted);
    }
    return failure->failure == control::ControlFailure::permission ? code(base::Exit::permission)
                                                                   : code(base::Exit::internal);
  }
  const auto& result = std::get<control::ControlReply>(reply);
  if (json) {
    std::cout << nlohmann::json{{"schema", "stackmgr.switch/1"},
                                {"via", "supervisor"},
                                {"exit", result.exit_code},
                                {"message", result.message},
                                {"result", result.data}}
                     .dump(2)
              << '\n';
  } else {
    std::cout << result.message << '\n';
  }
  return result.exit_code;
}

int run_switch(const GlobalOptions& global, const SwitchOptions& options) {
  const auto target = detect::parse_stack(options.stack);
  if (!target) {
    spdlog::error("{}", unknown_stack_message(options.stack));
    return code(base::Exit::usage);
  }
  if (options.dry_run) {
    const std::optional<config::Config> config = load_config_or_log(global);
    if (!config) return code(base::Exit::config);
    return dry_run(global, *config, *target, options.allow_ipcomp);
  }
  if (auto refused = refuse_module_changes_under_other_root(global, "switch")) return *refused;
  if (::geteuid() != 0) {
    spdlog::error(
        "stackmgr switch loads and unloads kernel modules and needs root; run it as root "
        "(sudo stackmgr switch {}), or see the plan with 'stackmgr plan {}'",
        options.stack, options.stack);
    return code(base::Exit::permission);
  }
  const std::optional<config::Config> config = load_config_or_log(global);
  if (!config) return code(base::Exit::config);
  switching::SwitchRequest request;
  request.target = *target;
  request.policy = switching::policy_from(*config, options.allow_ipcomp);
  request.wait = options.no_wait ? os::LockWait::no_wait : os::LockWait::wait;
  request.lock_timeout = options.timeout_seconds >= 0
                             ? std::chrono::milliseconds(std::llround(options.timeout_seconds * 1000.0))
                             : config->lock_timeout;
  request.module_mode = config->module_mode;
  switching::RealSwitchHost host(detect::HostRoot(global.root), config->catalog, config->paths);
  if (auto refused = confirm_dropping_tunnels(options.yes, *target, host.detect())) return *refused;
  if (auto supervised = switch_through_supervisor(*config, *target, options.json)) return *supervised;

  switching::SwitchEnvironment environment = host.environment();
  ConsoleSwitchObserver console(stdout);
  if (const switching::RecoveryResult recovered =
          switching::recover_interrupted_switch(request, environment, &console);
      recovered.outcome != switching::RecoveryOutcome::nothing) {
    if (recovered.outcome == switching::RecoveryOutcome::failed) {
      spdlog::error("{} (switching to {} as asked, through the planner)", recovered.message, options.stack);
    } else {
      spdlog::warn("{}", recovered.message);
    }
  }
  const switching::SwitchResult result =
      switching::switch_direct(request, environment, options.json ? nullptr : &console);
  for (const std::string& warning : result.warnings) spdlog::warn("{}", warning);
  if (options.json) {
    std::cout << switch_to_json(result).dump(2) << '\n';
  } else {
    std::cout << render_switch_summary(result);
  }
  std::cout.flush();
  return code(switching::exit_for(result));
}

}  // namespace

void add_switch_command(CLI::App& app, const GlobalOptions& global, Command& chosen) {
  auto options = std::make_shared<SwitchOptions>();
  CLI::App* command = app.add_subcommand("switch", "Switch the kernel's IPsec stack directly (needs root)");
  command->add_option("stack", options->stack, "klips or native (netkey and xfrm are aliases of native)")
      ->required();
  command->add_flag(
      "--json", options->json,
      "Print one JSON document (schema stackmgr.switch/1, docs/switch.md) instead of live steps");
  command->add_flag("--allow-ipcomp", options->allow_ipcomp,
                    "Also load IPComp modules (insecure on the native stack: an extra IPIP header)");
  command->add_flag("--no-wait", options->no_wait,
                    "Fail at once as busy when another stackmgr holds the lock");
  command
      ->add_option("--timeout", options->timeout_seconds,
                   "Seconds to wait for the lock before failing as busy (default: the config's lock_timeout)")
      ->check(CLI::NonNegativeNumber);
  command->add_flag("--dry-run", options->dry_run,
                    "Print the plan, the daemon steps of a running supervisor included, and change nothing");
  command->add_flag(
      "--yes,-y", options->yes,
      "Confirm that the switch drops the tunnels that are up (needed when stdin is not a terminal)");
  command->footer(kSwitchHelp);
  command->callback(
      [&global, &chosen, options] { chosen = [&global, options] { return run_switch(global, *options); }; });
}

}  // namespace stackmgr::cli
