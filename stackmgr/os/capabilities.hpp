#pragma once
// Linux capabilities by name, through libcap: "CAP_SYS_MODULE" <-> 16. The names are those of
// capabilities(7); the numbers are what prctl(PR_CAPBSET_DROP) and SpawnSpec take.

#include <optional>
#include <string>
#include <string_view>

namespace stackmgr::os {

// The capability called `name` ("CAP_SYS_MODULE"; case does not matter), or nullopt when it
// is not a capability name libcap knows. Numbers ("16") are not names and are refused.
std::optional<int> capability_from_name(std::string_view name);

// "CAP_SYS_MODULE" for 16: libcap's name in capabilities(7)'s upper case.
std::string capability_name(int capability);

}  // namespace stackmgr::os
