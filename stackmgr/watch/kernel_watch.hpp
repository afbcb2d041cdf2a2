#pragma once
// The supervisor's memory of the kernel between module events: the baseline taken
// once the chosen stack is ready, the events sorted by module_reaction's rules, the reload
// rate limit, the degraded state and the last events for `status`. Performs no reaction
// itself: the supervisor reloads (make_stack_ready) or stops the daemon.

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/snapshot.hpp"
#include "detect/stack.hpp"
#include "stackmgr/config/config.hpp"
#include "stackmgr/watch/module_monitor.hpp"
#include "stackmgr/watch/reaction.hpp"

namespace stackmgr::watch {

class KernelWatch {
 public:
  // `detect` re-reads the host (RealStackHost::detect in production). In external module
  // mode stackmgr loads nothing, so on_missing = reload becomes report.
  KernelWatch(const config::Config& config, std::unique_ptr<ModuleMonitor> monitor,
              std::function<detect::Snapshot()> detect);

  [[nodiscard]] int fd() const { return monitor_->fd(); }

  // Reads the pending events and sorts them under `phase` (to_string(Phase)). Unrelated ones
  // are only counted; own ones make a reconciliation due. Returns the first out-of-band IPsec
  // event when one arrived: the caller then runs check().
  std::optional<WatchEvent> receive(std::string_view phase);

  // stackmgr changed modules itself (PrepareStack, unload, reload): reconcile() is due.
  void mark_own_change() { reconcile_due_ = true; }
  [[nodiscard]] bool reconcile_due(detect::Stack chosen) const {
    return reconcile_due_ || !baseline_ || baseline_->chosen != chosen;
  }

  // After an own change: drains pending events as own, re-detects once and takes the chosen
  // stack's modules as the new baseline. A module of the other stack that appeared meanwhile
  // still counts as a conflict (the reaction says what to do).
  Reaction reconcile(detect::Stack chosen, std::string_view why, std::chrono::steady_clock::time_point now);

  // After out-of-band events: re-detects, compares with the baseline and decides.
  Reaction check(detect::Stack chosen, std::chrono::steady_clock::time_point now);

  // The outcome of performing `reaction` (e.g. the reload's result) for the history.
  void performed(const Reaction& reaction, bool ok, const std::string& outcome);

  // "" when the kernel agrees with the chosen stack; otherwise why status is degraded.
  [[nodiscard]] const std::string& degraded() const { return degraded_; }

  // {"state": ok|degraded|conflict, "reason", "ignored_events", "reloads_in_window", "config",
  //  "events": [{"at", "events", "reaction", "message"}...]}: the status document's "watch".
  [[nodiscard]] nlohmann::json status() const;

 private:
  Reaction decide(detect::Stack chosen, const KernelDrift& drift, std::chrono::steady_clock::time_point now,
                  std::string events);
  std::string take_pending();

  config::WatchConfig config_;
  const detect::Catalog& catalog_;
  std::unique_ptr<ModuleMonitor> monitor_;
  std::function<detect::Snapshot()> detect_;
  std::optional<KernelBaseline> baseline_;
  ReloadHistory reloads_;
  WatchHistory history_;
  std::vector<std::string> pending_;  // out-of-band event texts not yet checked
  std::vector<std::string> own_;      // own event texts not yet reconciled
  bool reconcile_due_ = false;
  bool conflict_ = false;
  std::string degraded_;
  std::uint64_t ignored_ = 0;
};

}  // namespace stackmgr::watch
