#include "stackmgr/watch/kernel_watch.hpp"

#include <algorithm>
#include <utility>

namespace stackmgr::watch {
namespace {

std::string joined(const std::vector<std::string>& texts) {
  std::string text;
  for (const auto& part : texts) text += (text.empty() ? "" : ", ") + part;
  return text;
}

std::string_view on_missing_name(config::MissingReaction reaction) {
  switch (reaction) {
    case config::MissingReaction::reload: return "reload";
    case config::MissingReaction::stop_daemon: return "stop-daemon";
    case config::MissingReaction::report: return "report";
  }
  return "reload";
}

}  // namespace

KernelWatch::KernelWatch(const config::Config& config, std::unique_ptr<ModuleMonitor> monitor,
                         std::function<detect::Snapshot()> detect)
    : config_(config.watch),
      catalog_(config.catalog),
      monitor_(std::move(monitor)),
      detect_(std::move(detect)) {
  if (config.module_mode == config::ModuleMode::external &&
      config_.on_missing == config::MissingReaction::reload) {
    config_.on_missing = config::MissingReaction::report;
  }
}

std::optional<WatchEvent> KernelWatch::receive(std::string_view phase) {
  std::optional<WatchEvent> out_of_band;
  for (const WatchEvent& event : monitor_->receive()) {
    switch (classify(event, catalog_, phase)) {
      case EventClass::unrelated: ++ignored_; break;
      case EventClass::own:
        own_.push_back(describe(event));
        reconcile_due_ = true;
        break;
      case EventClass::out_of_band:
        pending_.push_back(describe(event));
        if (!out_of_band) out_of_band = event;
        break;
    }
  }
  return out_of_band;
}

std::string KernelWatch::take_pending() {
  std::string text = joined(pending_);
  pending_.clear();
  return text;
}

Reaction KernelWatch::reconcile(detect::Stack chosen, std::string_view why,
                                std::chrono::steady_clock::time_point now) {
  // What is still queued was caused by the change that just ended: the kernel delivers a
  // module's uevent before init_module/delete_module returns.
  for (const WatchEvent& event : monitor_->receive()) {
    if (classify(event, catalog_, "preparing-stack") == EventClass::own) {
      own_.push_back(describe(event));
    } else {
      ++ignored_;
    }
  }
  // Out-of-band events queued before the change began are superseded by this re-detection.
  for (auto& text : pending_) own_.push_back(std::move(text));
  pending_.clear();
  reconcile_due_ = false;
  const detect::Snapshot snapshot = detect_();
  const bool same_stack = baseline_ && baseline_->chosen == chosen;
  KernelBaseline next = baseline_of(snapshot, chosen);
  if (same_stack) {
    next.other_loaded = baseline_->other_loaded;         // what appeared meanwhile still conflicts
    for (const auto& name : baseline_->chosen_loaded) {  // and what is still gone is still missing
      if (std::find(next.chosen_loaded.begin(), next.chosen_loaded.end(), name) == next.chosen_loaded.end()) {
        next.chosen_loaded.push_back(name);
      }
    }
  }
  const KernelDrift drift = drift_of(next, snapshot);
  if (!same_stack) next.other_loaded = baseline_of(snapshot, chosen).other_loaded;
  baseline_ = next;
  std::string events = "reconcile after " + std::string(why);
  if (!own_.empty()) events += " (own: " + joined(own_) + ")";
  own_.clear();
  if (!same_stack) {
    conflict_ = false;
    degraded_.clear();
    history_.add(
        {std::chrono::system_clock::now(), std::move(events), "baseline",
         "watching " + std::string(detect::to_string(chosen)) + " modules: " +
             (next.chosen_loaded.empty() ? std::string("none loaded") : joined(next.chosen_loaded))});
    return Reaction{};
  }
  return decide(chosen, drift, now, std::move(events));
}

Reaction KernelWatch::check(detect::Stack chosen, std::chrono::steady_clock::time_point now) {
  std::string events = take_pending();
  if (!baseline_ || baseline_->chosen != chosen) return reconcile(chosen, "a stack change", now);
  const KernelDrift drift = drift_of(*baseline_, detect_());
  return decide(chosen, drift, now, std::move(events));
}

Reaction KernelWatch::decide(detect::Stack chosen, const KernelDrift& drift,
                             std::chrono::steady_clock::time_point now, std::string events) {
  Reaction reaction = decide_reaction(config_, chosen, drift, reloads_, now);
  if (reaction.kind == ReactionKind::none) {
    degraded_.clear();
    conflict_ = false;
  } else {
    degraded_ = reaction.message;
    conflict_ = reaction.conflict;
  }
  history_.add({std::chrono::system_clock::now(), std::move(events), std::string(to_string(reaction.kind)),
                reaction.message});
  return reaction;
}

void KernelWatch::performed(const Reaction& reaction, bool ok, const std::string& outcome) {
  history_.add({std::chrono::system_clock::now(), "after " + std::string(to_string(reaction.kind)),
                ok ? "done" : "failed", outcome});
}

nlohmann::json KernelWatch::status() const {
  nlohmann::json events = nlohmann::json::array();
  for (const WatchRecord& record : history_.records()) {
    events.push_back(
        {{"at",
          static_cast<double>(
              std::chrono::duration_cast<std::chrono::milliseconds>(record.at.time_since_epoch()).count()) /
              1000.0},
         {"events", record.events},
         {"reaction", record.reaction},
         {"message", record.message}});
  }
  const std::string state = conflict_ ? "conflict" : (degraded_.empty() ? "ok" : "degraded");
  return {{"state", state},
          {"reason", degraded_},
          {"ignored_events", ignored_},
          {"reloads_in_window", reloads_.reloads.size()},
          {"config",
           {{"on_missing", std::string(on_missing_name(config_.on_missing))},
            {"on_conflict",
             config_.on_conflict == config::ConflictReaction::stop_daemon ? "stop-daemon" : "report"},
            {"reload_limit", config_.reload_limit},
            {"reload_window_s", static_cast<double>(config_.reload_window.count()) / 1000.0}}},
          {"events", events}};
}

}  // namespace stackmgr::watch
