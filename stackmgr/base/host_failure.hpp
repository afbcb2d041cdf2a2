#pragma once
// Telling what the host refused from what stackmgr got wrong: a file system that is read-only,
// full or not ours to write is the admin's to fix (Exit::filesystem), never "a bug" (Exit::internal).

#include <string>

#include "stackmgr/base/exit_codes.hpp"

namespace stackmgr::base {

// True for the errno of a file operation that the host's file systems refused: EROFS, ENOSPC,
// EDQUOT, EACCES, EIO, a missing or non-directory component on the way (ENOENT, ENOTDIR,
// ELOOP), a name or link count the file system cannot take (ENAMETOOLONG, EMLINK).
bool is_filesystem_failure(int error_number);

// The exit code of a command that could not start its work because of an error with errno
// `error_number`: config for 0 (an untrusted file: no errno), permission for EPERM,
// filesystem for is_filesystem_failure, internal for the rest.
Exit exit_for_error(int error_number);

// "EROFS" for EROFS; "errno N" for a number the C library has no name for.
std::string errno_name(int error_number);

// What an admin reads after a filesystem failure's message: the errno's name and what to do.
// "(EROFS: the host's file system refused it; make it writable, free space or fix its
// permissions, then run stackmgr again)".
std::string filesystem_advice(int error_number);

}  // namespace stackmgr::base
