#pragma once
// What the supervisor does about a kernel module or ipsecN event, as pure functions
// over plain structs. module_watch.hpp turns libudev into WatchEvents; the supervisor detects
// and performs the Reaction. Design and rules: docs/supervisor.md, "Watching the kernel".

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "detect/catalog.hpp"
#include "detect/snapshot.hpp"
#include "detect/stack.hpp"
#include "stackmgr/config/config.hpp"

namespace stackmgr::watch {

enum class WatchSubsystem { module, net };
enum class WatchAction { add, remove, other };

// One kernel uevent, reduced to what the reaction logic needs.
struct WatchEvent {
  WatchSubsystem subsystem = WatchSubsystem::module;
  WatchAction action = WatchAction::other;
  std::string name;  // module name, or net device name
};

// "module esp4 removed", "net ipsec0 added".
std::string describe(const WatchEvent& event);

enum class EventClass {
  unrelated,    // not an IPsec module nor ipsecN: ignored without re-detecting
  own,          // stackmgr itself is changing modules: reconciled once the change is over
  out_of_band,  // someone else: re-detect now and react
};

// True for a phase (to_string(Phase)) in which stackmgr itself changes modules:
// preparing-stack, stopping, switching, unloading; and "reloading", which the supervisor passes
// while the watch's own reload runs.
bool is_own_change_phase(std::string_view phase);

// True for "ipsec" followed by one or more digits (KLIPS's virtual interfaces).
bool is_ipsec_device(std::string_view name);

// Sorts an event: unrelated unless it names a module of `catalog` or an ipsecN device; then
// own during an own-change phase, out_of_band otherwise. add and remove only: "change",
// "bind" and the like are unrelated.
EventClass classify(const WatchEvent& event, const detect::Catalog& catalog, std::string_view phase);

// What the kernel held once the chosen stack was ready (and after each reconciliation): the
// loaded modules of the chosen stack and of the other one.
struct KernelBaseline {
  detect::Stack chosen = detect::Stack::native;
  std::vector<std::string> chosen_loaded;
  std::vector<std::string> other_loaded;
};

// The baseline for `chosen` in `snapshot` (loaded = live, coming or going).
KernelBaseline baseline_of(const detect::Snapshot& snapshot, detect::Stack chosen);

// How the kernel now differs from the baseline.
struct KernelDrift {
  std::vector<std::string> missing;      // chosen-stack modules of the baseline that are gone
  std::vector<std::string> conflicting;  // other-stack modules that are loaded and were not
  bool guard_installed = false;          // stackmgr's autoload guard file exists
  [[nodiscard]] bool none() const { return missing.empty() && conflicting.empty(); }
};

// Compares `snapshot` with `baseline`.
KernelDrift drift_of(const KernelBaseline& baseline, const detect::Snapshot& snapshot);

enum class ReactionKind {
  none,         // the kernel agrees with the chosen stack
  reload,       // load the missing modules through make_stack_ready; keep the daemon
  stop_daemon,  // stop the keying daemon (and the supervisor) with Exit::conflict/daemon_failed
  report,       // log it, mark status degraded, change nothing
};
std::string_view to_string(ReactionKind kind);

enum class Severity { info, error, critical };
std::string_view to_string(Severity severity);

struct Reaction {
  ReactionKind kind = ReactionKind::none;
  Severity severity = Severity::info;
  bool degraded = false;  // status must say the stack is not what was chosen
  bool conflict = false;  // a module of the other stack appeared
  std::string message;    // what happened, what stackmgr does, what the admin should do
};

// Reloads done inside the window (the rate limit's memory).
struct ReloadHistory {
  std::deque<std::chrono::steady_clock::time_point> reloads;
};

// The reaction to `drift` under `config`. A conflict wins over a missing module and never
// reloads anything. A reload is recorded in `history`; past config.reload_limit reloads
// within config.reload_window it becomes a report (degraded) so a fight cannot loop.
Reaction decide_reaction(const config::WatchConfig& config, detect::Stack chosen, const KernelDrift& drift,
                         ReloadHistory& history, std::chrono::steady_clock::time_point now);

// One line of `status`'s history: an event batch (or a reconciliation) and what was done.
struct WatchRecord {
  std::chrono::system_clock::time_point at;
  std::string events;    // "module esp4 removed", or "reconcile after preparing-stack"
  std::string reaction;  // to_string(ReactionKind), or "own change", "ignored"
  std::string message;
};

// The last `capacity` records, oldest first.
class WatchHistory {
 public:
  explicit WatchHistory(std::size_t capacity = 10) : capacity_(capacity) {}
  // Appends `record`, dropping the oldest beyond capacity.
  void add(WatchRecord record);
  [[nodiscard]] const std::deque<WatchRecord>& records() const { return records_; }

 private:
  std::size_t capacity_;
  std::deque<WatchRecord> records_;
};

}  // namespace stackmgr::watch
