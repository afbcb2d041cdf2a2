#include "stackmgr/watch/reaction.hpp"

#include <algorithm>
#include <cctype>

namespace stackmgr::watch {
namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string text;
  for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
  return text;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string stack_name(detect::Stack stack) { return std::string(detect::to_string(stack)); }

detect::Stack other_stack(detect::Stack stack) {
  return stack == detect::Stack::native ? detect::Stack::klips : detect::Stack::native;
}

std::string guard_text(const KernelDrift& drift) {
  return drift.guard_installed
             ? "the autoload guard is installed, so this load went around it (insmod by path?)"
             : "the autoload guard is not installed";
}

Reaction conflict_reaction(const config::WatchConfig& config, detect::Stack chosen,
                           const KernelDrift& drift) {
  Reaction reaction;
  reaction.severity = Severity::critical;
  reaction.degraded = true;
  reaction.conflict = true;
  const std::string other = stack_name(other_stack(chosen));
  std::string message = "conflict: " + joined(drift.conflicting) + " (" + other +
                        " stack) appeared in the kernel while the " + stack_name(chosen) +
                        " stack is in use; " + guard_text(drift) + "; stackmgr loads nothing to fix this";
  if (config.on_conflict == config::ConflictReaction::stop_daemon) {
    reaction.kind = ReactionKind::stop_daemon;
    message +=
        "; stopping the keying daemon so it does not run on a mixed kernel. Find what loaded it, "
        "remove it, then 'stackmgr start'";
  } else {
    reaction.kind = ReactionKind::report;
    message += " ([watch] on_conflict = \"report\"); find what loaded it and remove it";
  }
  if (!drift.missing.empty()) message += "; also gone: " + joined(drift.missing);
  reaction.message = std::move(message);
  return reaction;
}

}  // namespace

std::string describe(const WatchEvent& event) {
  std::string text = event.subsystem == WatchSubsystem::module ? "module " : "net ";
  text += event.name;
  switch (event.action) {
    case WatchAction::add: return text + " added";
    case WatchAction::remove: return text + " removed";
    case WatchAction::other: return text + " changed";
  }
  return text;
}

bool is_own_change_phase(std::string_view phase) {
  return phase == "preparing-stack" || phase == "stopping" || phase == "switching" || phase == "unloading" ||
         phase == "reloading";
}

bool is_ipsec_device(std::string_view name) {
  constexpr std::string_view prefix = "ipsec";
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return false;
  const std::string_view digits = name.substr(prefix.size());
  return std::all_of(digits.begin(), digits.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

EventClass classify(const WatchEvent& event, const detect::Catalog& catalog, std::string_view phase) {
  if (event.action == WatchAction::other) return EventClass::unrelated;
  const bool ipsec = event.subsystem == WatchSubsystem::module ? catalog.find(event.name) != nullptr
                                                               : is_ipsec_device(event.name);
  if (!ipsec) return EventClass::unrelated;
  return is_own_change_phase(phase) ? EventClass::own : EventClass::out_of_band;
}

KernelBaseline baseline_of(const detect::Snapshot& snapshot, detect::Stack chosen) {
  KernelBaseline baseline;
  baseline.chosen = chosen;
  for (const auto& module : snapshot.modules) {
    if (!detect::is_loaded(module.state)) continue;
    (module.spec.stack == chosen ? baseline.chosen_loaded : baseline.other_loaded)
        .push_back(module.spec.name);
  }
  return baseline;
}

KernelDrift drift_of(const KernelBaseline& baseline, const detect::Snapshot& snapshot) {
  KernelDrift drift;
  drift.guard_installed = snapshot.markers.guard_installed;
  for (const auto& name : baseline.chosen_loaded) {
    const detect::ModuleStatus* module = snapshot.module(name);
    if (module == nullptr || !detect::is_loaded(module->state)) drift.missing.push_back(name);
  }
  for (const auto& module : snapshot.modules) {
    if (module.spec.stack == baseline.chosen || !detect::is_loaded(module.state)) continue;
    if (!contains(baseline.other_loaded, module.spec.name)) drift.conflicting.push_back(module.spec.name);
  }
  return drift;
}

std::string_view to_string(ReactionKind kind) {
  switch (kind) {
    case ReactionKind::none: return "none";
    case ReactionKind::reload: return "reload";
    case ReactionKind::stop_daemon: return "stop-daemon";
    case ReactionKind::report: return "report";
  }
  return "none";
}

std::string_view to_string(Severity severity) {
  switch (severity) {
    case Severity::info: return "info";
    case Severity::error: return "error";
    case Severity::critical: return "critical";
  }
  return "info";
}

Reaction decide_reaction(const config::WatchConfig& config, detect::Stack chosen, const KernelDrift& drift,
                         ReloadHistory& history, std::chrono::steady_clock::time_point now) {
  if (!drift.conflicting.empty()) return conflict_reaction(config, chosen, drift);
  if (drift.missing.empty()) {
    return Reaction{ReactionKind::none, Severity::info, false, false,
                    "the kernel agrees with the " + stack_name(chosen) + " stack"};
  }
  Reaction reaction;
  reaction.severity = Severity::error;
  reaction.degraded = true;
  const std::string gone =
      joined(drift.missing) + " (" + stack_name(chosen) + " stack) went away behind stackmgr's back";
  switch (config.on_missing) {
    case config::MissingReaction::stop_daemon:
      reaction.kind = ReactionKind::stop_daemon;
      reaction.message = gone +
                         "; stopping the keying daemon ([watch] on_missing = \"stop-daemon\"); "
                         "find what removed it, then 'stackmgr start'";
      return reaction;
    case config::MissingReaction::report:
      reaction.kind = ReactionKind::report;
      reaction.message = gone +
                         "; only reporting it ([watch] on_missing = \"report\"); "
                         "run 'stackmgr switch " +
                         stack_name(chosen) + "' to load it again";
      return reaction;
    case config::MissingReaction::reload: break;
  }
  while (!history.reloads.empty() && now - history.reloads.front() >= config.reload_window) {
    history.reloads.pop_front();
  }
  if (history.reloads.size() >= static_cast<std::size_t>(config.reload_limit)) {
    reaction.kind = ReactionKind::report;
    reaction.message = gone + "; not reloading: already " + std::to_string(history.reloads.size()) +
                       " reloads in the last " + std::to_string(config.reload_window.count() / 1000) +
                       " s ([watch] reload_limit), so something keeps removing it; find that tool, "
                       "then run 'stackmgr switch " +
                       stack_name(chosen) + "'";
    return reaction;
  }
  history.reloads.push_back(now);
  reaction.kind = ReactionKind::reload;
  reaction.message = gone + "; reloading it through the safe executor, the keying daemon keeps running";
  return reaction;
}

void WatchHistory::add(WatchRecord record) {
  records_.push_back(std::move(record));
  while (records_.size() > capacity_) records_.pop_front();
}

}  // namespace stackmgr::watch
