#pragma once
// The state file that makes an admin's switch survive a reboot: /var/lib/stackmgr/stack
// (PathsConfig::chosen_stack_file). One stack name; '#' lines are comments. Written only after
// a successful switch; read by `start` (stack_choice: it outranks the config).

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "detect/error.hpp"
#include "detect/stack.hpp"
#include "stackmgr/os/file_trust.hpp"

namespace stackmgr::config {

struct ChosenStackRead {
  std::optional<detect::Stack> stack;  // nullopt: no file, or an unusable one (see warning)
  std::string warning;                 // set when the file exists but cannot be used; log it
};

// Reads the state file. Missing: no stack, no warning. Garbage (not one stack name, too big,
// binary): no stack and a warning saying so, never an error. An Error only when the file may
// not be trusted (check_trusted with `owner`) or cannot be read: Exit::config.
detect::Result<ChosenStackRead> read_chosen_stack(const std::filesystem::path& file,
                                                  uid_t owner = os::kRootUid);

// Parses the state file's text as read from `file` (named in the warning): no file access. One
// stack name and '#' comment lines give the stack; anything else gives a warning instead.
ChosenStackRead parse_chosen_stack(std::string_view text, const std::filesystem::path& file);

// The text write_chosen_stack() writes for `stack`: two comment lines and the stack's name.
std::string chosen_stack_text(detect::Stack stack);

// Records `stack` atomically: a temp file in the same directory, fsync, rename over `file`,
// fsync of the directory. Mode 0644. Creates the directory (and missing parents, 0755) when
// missing, and refuses a directory others could write (check_trusted with `owner`).
detect::Status write_chosen_stack(const std::filesystem::path& file, detect::Stack stack,
                                  uid_t owner = os::kRootUid);

}  // namespace stackmgr::config
