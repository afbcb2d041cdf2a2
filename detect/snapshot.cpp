#include "detect/snapshot.hpp"

namespace detect {

std::string_view to_string(ModuleState state) {
  switch (state) {
    case ModuleState::live: return "live";
    case ModuleState::coming: return "coming";
    case ModuleState::going: return "going";
    case ModuleState::builtin: return "builtin";
    case ModuleState::available: return "available";
    case ModuleState::blacklisted: return "blacklisted";
    case ModuleState::absent: return "absent";
    case ModuleState::unknown: return "unknown";
  }
  return "unknown";
}

bool is_loaded(ModuleState state) {
  return state == ModuleState::live || state == ModuleState::coming || state == ModuleState::going;
}

bool is_present(ModuleState state) { return is_loaded(state) || state == ModuleState::builtin; }

std::string_view to_string(Fact fact) {
  switch (fact) {
    case Fact::yes: return "yes";
    case Fact::no: return "no";
    case Fact::unknown: return "unknown";
  }
  return "unknown";
}

bool ModuleSubsystem::can_change_modules() const {
  return supported == Fact::yes && modules_disabled == Fact::no && cap_sys_module == Fact::yes;
}

std::string_view to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::active: return "active";
    case Verdict::builtin: return "builtin";
    case Verdict::partial: return "partial";
    case Verdict::loadable: return "loadable";
    case Verdict::unavailable: return "unavailable";
  }
  return "unavailable";
}

std::string_view to_string(Overall overall) {
  switch (overall) {
    case Overall::none: return "none";
    case Overall::native: return "native";
    case Overall::klips: return "klips";
    case Overall::conflict: return "conflict";
    case Overall::broken: return "broken";
  }
  return "broken";
}

const ModuleStatus* Snapshot::module(std::string_view name) const {
  for (const ModuleStatus& status : modules) {
    if (status.spec.name == name) return &status;
  }
  return nullptr;
}

std::optional<Stack> Snapshot::active_stack() const {
  if (overall == Overall::native) return Stack::native;
  if (overall == Overall::klips) return Stack::klips;
  return std::nullopt;
}

}  // namespace detect
