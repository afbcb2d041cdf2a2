#pragma once
// The two kernel IPsec stacks and their names on the command line and in configs.

#include <optional>
#include <string_view>

namespace detect {

enum class Stack { native, klips };

// "native" or "klips".
std::string_view to_string(Stack stack);

// Accepts native, netkey, xfrm (aliases that Openswan and Libreswan admins write) and klips,
// case-insensitively. Anything else is nullopt; callers report it as an unknown stack name.
std::optional<Stack> parse_stack(std::string_view name);

// The stack that is not `stack`.
Stack other(Stack stack);

}  // namespace detect
