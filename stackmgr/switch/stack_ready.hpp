#pragma once
// Making the chosen stack ready before the daemon starts, and undoing stackmgr's own loads at
// `stop --unload`. In `manage` mode through the planner and executor, under the change lock,
// with the same refusals as `switch`; in `external` mode nothing is loaded: stackmgr only
// checks that the stack is usable and says exactly what is missing.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "detect/snapshot.hpp"
#include "detect/stack.hpp"
#include "modules/clock.hpp"
#include "modules/executor.hpp"
#include "modules/guard_file.hpp"
#include "modules/holder_lookup.hpp"
#include "modules/module_backend.hpp"
#include "stackmgr/base/log_level.hpp"
#include "stackmgr/config/config.hpp"
#include "stackmgr/config/stack_choice.hpp"

namespace stackmgr::switching {

// The OS boundaries stack_ready acts through: real ones in production, fakes in tests.
struct StackReadyContext {
  explicit StackReadyContext(const config::Config& config_in) : config(config_in) {}
  const config::Config& config;
  std::function<detect::Snapshot()> detect;   // re-reads the host (required)
  std::function<detect::Snapshot()> recheck;  // the check before each insert (detect when empty)
  modules::ModuleBackend* backend = nullptr;  // manage mode (required there)
  modules::AutoloadGuard* guard = nullptr;    // manage mode (required there)
  modules::Clock* clock = nullptr;            // manage mode (required there)
  const modules::ProcessHolderLookup* holders = nullptr;
  std::function<void(base::LogLevel, const std::string&)> report;  // progress for the log and clients
  std::function<bool()> stop_requested;  // optional: true stops the module work at the next step
};

struct StackOutcome {
  int exit_code = 0;    // Exit: ok, refused, rolled_back, rollback_failed, busy, config
  std::string message;  // what was done, or what failed and what to do next
  std::vector<std::string> warnings;
  [[nodiscard]] bool ok() const { return exit_code == 0; }
};

// Takes the kernel to `target`: manage mode plans and executes (lock, record), external mode
// only verifies (check_external_stack). Never loads anything the planner refuses.
StackOutcome make_stack_ready(detect::Stack target, const StackReadyContext& context);

// `stop --unload`: under the change lock, unloads only what the module record says stackmgr
// loaded (plan_unload_own), in the safe order, and updates the record. External mode: nothing.
StackOutcome unload_own_modules(const StackReadyContext& context);

// External mode's check on a Snapshot (pure). Native needs the kernel's XFRM framework (what a
// netlink keying daemon such as pluto uses); KLIPS needs its /proc/net/ipsec files. Neither
// may share the kernel with the other stack. Core modules that are not present are warnings.
struct ExternalCheck {
  bool usable = false;
  std::string missing;                // when !usable: exactly what is missing and what to do
  std::vector<std::string> warnings;  // when usable: what could still go wrong
};
ExternalCheck check_external_stack(const detect::Snapshot& snapshot, detect::Stack target);

// Which stack `start` makes ready: the command line, the last switch (state file), the
// config, ipsec.conf's protostack= and auto, in that order (choose_stack). An unreadable or
// untrusted state file or ipsec.conf is Exit::config; a refusal to guess is Exit::refused.
struct ResolvedStack {
  std::optional<detect::Stack> stack;  // nullopt: see exit_code and message
  config::ChoiceSource source = config::ChoiceSource::automatic;
  std::string explanation;
  std::vector<std::string> warnings;
  int exit_code = 0;
  std::string message;
};
ResolvedStack resolve_stack(const config::Config& config, std::optional<detect::Stack> command_line,
                            const detect::Snapshot& snapshot);

}  // namespace stackmgr::switching
