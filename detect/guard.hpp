#pragma once
// Reading stackmgr's autoload guard (kGuardFile): which modules it blocks.

#include <set>
#include <string>
#include <string_view>

#include "detect/host.hpp"

namespace detect {

// The modules that guard-file text blocks: each "install <module> /bin/false" line (or
// /usr/bin/false). Names are normalized ('-' becomes '_'); comments and other lines are ignored.
std::set<std::string> parse_guard(std::string_view text);

// parse_guard() of <root>/kGuardFile; empty when the file does not exist or cannot be read.
std::set<std::string> read_guarded_modules(const HostRoot& root);

}  // namespace detect
