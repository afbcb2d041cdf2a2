#pragma once
// Which kernel modules stackmgr itself loaded (rule 9): `stop --unload` and dependency cleanup
// remove only these. Kept under /run/stackmgr, since modules do not survive a reboot and
// neither should the record. One module name per line; '#' starts a comment.

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include "detect/error.hpp"

namespace stackmgr::switching {

inline constexpr const char* kDefaultModuleRecord = "/run/stackmgr/loaded-modules";

class ModuleRecord {
 public:
  // Reads the record at `path`. A missing file is an empty record. Refuses (code 0) a file
  // that is a symlink, not owned by this user, or writable by group or others; EINVAL names
  // the line of a name that is not a valid module name.
  static detect::Result<ModuleRecord> load(const std::filesystem::path& path);
  // Parses a record's text as read from `source` (named in errors): no file access. EINVAL
  // names the line of a name that is not a valid module name.
  static detect::Result<ModuleRecord> parse(std::string_view text, const std::filesystem::path& source);

  // Writes the record atomically (mode 0600), creating its directory (0700) when missing.
  [[nodiscard]] detect::Status save(const std::filesystem::path& path) const;

  // Adds what a run loaded and drops what it unloaded (an executor report's net effect).
  void apply(const std::set<std::string>& loaded, const std::set<std::string>& unloaded);
  // Forgets modules that are no longer loaded: someone else unloaded them.
  void keep_only(const std::set<std::string>& loaded_now);

  [[nodiscard]] const std::set<std::string>& modules() const { return modules_; }
  [[nodiscard]] std::string text() const;

 private:
  std::set<std::string> modules_;
};

}  // namespace stackmgr::switching
