#pragma once
// Writing small state files so that a reader sees the old content or the new, never a mix:
// write a temporary file in the same directory, fsync it, rename it over, fsync the directory.

#include <sys/types.h>

#include <filesystem>
#include <string_view>

#include "detect/error.hpp"

namespace modules {

// Replaces `path` with `content` atomically (mode `mode`). The directory must exist and must
// not be a symlink; `path` itself is never followed if it is a symlink (it is replaced). First
// removes the temporary files that writers which died before their rename (killed, power cut)
// left in the directory: those whose process is gone or that are older than this boot.
detect::Status write_file_atomically(const std::filesystem::path& path, std::string_view content,
                                     mode_t mode);

// Renames `from` to `to` (same directory) and fsyncs that directory.
detect::Status move_file_durably(const std::filesystem::path& from, const std::filesystem::path& to);

// Removes `path` and fsyncs its directory. A missing file is success.
detect::Status remove_file_durably(const std::filesystem::path& path);

// Creates `dir` (and missing parents, 0755) with `mode` when missing. Refuses a path that
// exists but is not a directory, or is a symlink. Never changes the mode of a directory it did
// not make. Errors carry the errno and the path (EROFS, ENOSPC, EACCES, ENOTDIR...).
detect::Status ensure_directory(const std::filesystem::path& dir, mode_t mode);

}  // namespace modules
