#pragma once
// stackmgr's own directories (run_dir): made by stackmgr, owned by its user, mode 0700. One that
// exists but is not what stackmgr would have made may be shared with other programs (/run,
// /tmp): it is refused, and never chmod'ed.

#include <filesystem>
#include <string_view>

#include "detect/error.hpp"

namespace stackmgr::os {

// Creates `dir` (mode 0700; missing parents 0755, root's) when missing and returns. When it
// exists, refuses it unless it is a directory (not a symlink) owned by this process's euid
// with mode exactly 0700: code 0 and a message that names `setting` (the config key, e.g.
// "paths.run_dir") and what to do. Other failures carry their errno and the path.
detect::Status prepare_private_directory(const std::filesystem::path& dir, std::string_view setting);

}  // namespace stackmgr::os
