// `stackmgr switch <stack>`: switch directly (no supervisor involved), under the lock, showing
// each step as it happens.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

#include "stackmgr/cli.hpp"
#include "stackmgr/exit_codes.hpp"
#include "stackmgr/switch_direct.hpp"
#include "stackmgr/switch_host.hpp"
#include "stackmgr/switch_output.hpp"

namespace stackmgr {
namespace {

constexpr const char* kSwitchHelp =
    R"(Switches the kernel's IPsec stack: takes the lock, detects, plans (the same plan
'stackmgr plan' prints), then unloads the other stack and loads this one, verifying each
step and rolling back to where it started if one fails. Needs root.
Exit codes:
  0  done, or already there
  2  usage: unknown stack name
  3  refused by a safety rule; nothing was changed
  4  a step failed; the host was rolled back to where it was
  5  a step failed and the rollback failed too; the state is reported
  6  busy: another stackmgr holds the lock (after --timeout, or at once with --no-wait)
  7  config error, or an untrusted lock directory or file
  9  not root)";

struct SwitchOptions {
  std::string stack;
  bool json = false;
  bool allow_ipcomp = false;
  bool no_wait = false;
  double timeout_seconds = -1;  // < 0: the config's lock_timeout
};

int run_switch(const GlobalOptions& global, const SwitchOptions& options) {
  const auto target = detect::parse_stack(options.stack);
  if (!target) {
    spdlog::error("{}", unknown_stack_message(options.stack));
    return code(Exit::usage);
  }
  if (::geteuid() != 0) {
    spdlog::error(
        "stackmgr switch loads and unloads kernel modules and needs root; run it as root "
        "(sudo stackmgr switch {}), or see the plan with 'stackmgr plan {}'",
        options.stack, options.stack);
    return code(Exit::permission);
  }
  const ConfigResult config = load_command_config(global);
  if (!config) {
    spdlog::error("{}", config.error().describe());
    return code(Exit::config);
  }
  SwitchRequest request;
  request.target = *target;
  request.policy = policy_from(*config, options.allow_ipcomp);
  request.wait = options.no_wait ? LockWait::no_wait : LockWait::wait;
  request.lock_timeout = options.timeout_seconds >= 0
                             ? std::chrono::milliseconds(std::llround(options.timeout_seconds * 1000.0))
                             : config->lock_timeout;
  request.module_mode = config->module_mode;

  RealSwitchHost host(detect::HostRoot(global.root), config->catalog, config->paths);
  SwitchEnvironment environment = host.environment();
  ConsoleSwitchObserver console(stdout);
  const SwitchResult result = switch_direct(request, environment, options.json ? nullptr : &console);
  for (const std::string& warning : result.warnings) spdlog::warn("{}", warning);
  if (options.json) {
    std::cout << switch_to_json(result).dump(2) << '\n';
  } else {
    std::cout << render_switch_summary(result);
  }
  std::cout.flush();
  return code(exit_for(result));
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
  command->footer(kSwitchHelp);
  command->callback(
      [&global, &chosen, options] { chosen = [&global, options] { return run_switch(global, *options); }; });
}

}  // namespace stackmgr
