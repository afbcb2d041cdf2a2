// The human view of a stackmgr.status/1 document, from a running supervisor or from
// detection alone. Parts the document lacks are shown as "-" or left out, never an error.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace stackmgr::cli {

std::string render_status(const nlohmann::json& doc);

}  // namespace stackmgr::cli
