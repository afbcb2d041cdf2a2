#pragma once
// The /proc/modules format, parsed once for every module (as lsmod does).

#include <string_view>
#include <vector>

#include "detect/error.hpp"
#include "detect/module_index.hpp"

namespace detect {

// Parses /proc/modules text: "name size refcnt holders state address [taints]" per line, where
// holders is "-" or "a,b," and refcnt is "-" (unknown: -1) without CONFIG_MODULE_UNLOAD.
// Fails with EBADMSG naming the first malformed line, so a truncated or garbled file is never
// mistaken for "nothing loaded". An empty text is a valid empty list.
Result<std::vector<LoadedModule>> parse_proc_modules(std::string_view text);

}  // namespace detect
