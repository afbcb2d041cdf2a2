#pragma once
// The Snapshot as JSON: the stable "stackmgr.detect/1" schema documented in docs/detect.md.
// Other commands (status, doctor) embed this object as it is. ordered_json keeps "schema" first.

#include <nlohmann/json.hpp>
#include <string_view>

#include "detect/snapshot.hpp"

namespace detect {

inline constexpr std::string_view kDetectSchema = "stackmgr.detect/1";

// The whole snapshot: schema, overall, reasons, stacks, subsystem, modules, markers. Fields
// are only ever added within schema version 1; a removal or a change of meaning bumps it.
nlohmann::ordered_json snapshot_to_json(const Snapshot& snapshot);

// One module's object in the "modules" array.
nlohmann::ordered_json module_to_json(const ModuleStatus& status);

}  // namespace detect
