#pragma once
// The level of a progress message that goes to the log and to the control clients waiting on
// the operation that produced it.

#include <string_view>

namespace stackmgr::base {

enum class LogLevel { debug, info, warn, error };

// "debug", "info", "warn", "error": the control protocol's spelling.
std::string_view to_string(LogLevel level);

}  // namespace stackmgr::base
