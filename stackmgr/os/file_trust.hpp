#pragma once
// Refuses files that someone other than root could have changed. stackmgr runs as root and
// executes the daemon its config names, so a config others can write is a root shell for them.
// The same rule covers ipsec.conf (protostack=) and the chosen-stack state file.

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>

#include "detect/error.hpp"

namespace stackmgr::os {

inline constexpr uid_t kRootUid = 0;

// What the checked path itself must be.
enum class TrustedKind { file, directory };

// Checks `path` (absolute) the way sudo and sshd check theirs, walking from / down: every
// directory on the way, every symlink followed and the path itself must be owned by root or
// `owner`, and the directories and the path must not be writable by group or others. A
// directory writable by others is accepted only with the sticky bit (like /tmp), where nobody
// can rename or remove entries they do not own. Error code ENOENT: something on the way does
// not exist; code 0: a refusal whose message says what to run ("refusing X: ...; run '...'").
detect::Status check_trusted(const std::filesystem::path& path, TrustedKind kind, uid_t owner = kRootUid);

// check_trusted(path, file, owner), then reads the file, verifying that the file opened is the
// one that was checked. Refuses files larger than `max_bytes`.
detect::Result<std::string> read_trusted_file(const std::filesystem::path& path, uid_t owner = kRootUid,
                                              std::size_t max_bytes = std::size_t{1} << 20);

}  // namespace stackmgr::os
