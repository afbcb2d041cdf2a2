// `stackmgr plan <stack>`: the dry run. The same detection and planner as `switch`, and no
// executor: it prints the steps with their reasons, or the refusal.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <iostream>
#include <memory>

#include "modules/planner.hpp"
#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/cli/commands.hpp"
#include "stackmgr/cli/switch_output.hpp"
#include "stackmgr/switch/module_record.hpp"
#include "stackmgr/switch/real_switch_host.hpp"

namespace stackmgr::cli {
namespace {

constexpr const char* kPlanHelp =
    R"(A dry run of 'stackmgr switch': detects, plans and prints the steps with their
reasons (or the refusal, with the rule it comes from), and changes nothing.
Works without root: it then plans as root would run it.
Exit codes: 0 a plan (or already there), 3 refused by a safety rule, 2 usage, 7 config.)";

struct PlanOptions {
  std::string stack;
  bool json = false;
  bool allow_ipcomp = false;
};

int run_plan(const GlobalOptions& global, const PlanOptions& options) {
  const auto target = detect::parse_stack(options.stack);
  if (!target) {
    spdlog::error("{}", unknown_stack_message(options.stack));
    return code(base::Exit::usage);
  }
  const std::optional<config::Config> config = load_config_or_log(global);
  if (!config) return code(base::Exit::config);
  switching::RealSwitchHost host(detect::HostRoot(global.root), config->catalog, config->paths);
  detect::Snapshot snapshot = host.detect();
  std::vector<std::string> notes;
  // A dry run by an ordinary user shows what root would be told, not "you are not root".
  if (::geteuid() != 0 && snapshot.subsystem.cap_sys_module != detect::Fact::yes &&
      snapshot.subsystem.cap_sys_module_bounding != detect::Fact::no) {
    snapshot.subsystem.cap_sys_module = detect::Fact::yes;
    notes.push_back("planned as root would run it: 'stackmgr switch' needs root (CAP_SYS_MODULE)");
  }
  switching::ModuleRecord record;
  if (auto loaded = switching::ModuleRecord::load(host.module_record())) {
    record = std::move(loaded).value();
  } else if (loaded.error().code == EACCES) {
    notes.push_back(
        "cannot read stackmgr's module record without root: planned as if stackmgr had loaded nothing");
  } else {
    spdlog::warn("{} (planning as if stackmgr had loaded nothing)", loaded.error().describe());
  }

  modules::PlanOrRefusal planned = modules::plan_switch(
      snapshot, *target,
      switching::policy_with_record(switching::policy_from(*config, options.allow_ipcomp), record));
  if (auto* plan = std::get_if<modules::Plan>(&planned)) {
    if (config->module_mode == config::ModuleMode::external) {
      if (auto refusal = switching::external_mode_refusal(*plan)) planned = std::move(*refusal);
    }
  }
  if (auto* plan = std::get_if<modules::Plan>(&planned)) {
    plan->notes.insert(plan->notes.end(), notes.begin(), notes.end());
  }
  if (auto* refusal = std::get_if<modules::Refusal>(&planned)) {
    switching::name_process_holders(*refusal, host.environment().holders);
  }
  const bool refused = std::holds_alternative<modules::Refusal>(planned);
  if (options.json) {
    std::cout << plan_to_json(planned, *target).dump(2) << '\n';
  } else if (refused) {
    std::cout << render_refusal(std::get<modules::Refusal>(planned));
  } else {
    std::cout << render_plan(std::get<modules::Plan>(planned)) << "(dry run: nothing was changed)\n";
  }
  std::cout.flush();
  return code(refused ? base::Exit::refused : base::Exit::ok);
}

}  // namespace

void add_plan_command(CLI::App& app, const GlobalOptions& global, Command& chosen) {
  auto options = std::make_shared<PlanOptions>();
  CLI::App* command = app.add_subcommand("plan", "Show what 'switch' would do (dry run)");
  command->add_option("stack", options->stack, "klips or native (netkey and xfrm are aliases of native)")
      ->required();
  command->add_flag("--json", options->json, "Print the stable JSON schema stackmgr.plan/1 (docs/switch.md)");
  command->add_flag("--allow-ipcomp", options->allow_ipcomp,
                    "Also load IPComp modules (insecure on the native stack: an extra IPIP header)");
  command->footer(kPlanHelp);
  command->callback(
      [&global, &chosen, options] { chosen = [&global, options] { return run_plan(global, *options); }; });
}

}  // namespace stackmgr::cli
