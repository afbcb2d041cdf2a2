#pragma once
// The switch journal: a small JSON document (PathsConfig::journal(), under the state dir) that
// says which switch is under way and which of its steps are done. It is rewritten before each
// step (write, fsync, rename, fsync of the directory) and removed when the switch ends, so a
// journal found later means a switch was interrupted (see switch_recovery.hpp).

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "detect/error.hpp"
#include "detect/stack.hpp"

namespace stackmgr::switching {

inline constexpr int kJournalVersion = 1;

// Who ran the switch.
enum class JournalVia { direct, supervisor };
std::string_view to_string(JournalVia via);

struct JournalStep {
  std::string what;  // "stop pluto", "unload esp4", "load ipsec", "set the autoload guard"...
  bool done = false;
  bool operator==(const JournalStep&) const = default;
};

struct SwitchJournal {
  std::optional<detect::Stack> from;  // the stack in the kernel before; nullopt: none
  detect::Stack to = detect::Stack::native;
  JournalVia via = JournalVia::direct;
  pid_t pid = 0;                // the stackmgr process that wrote it
  std::int64_t started_at = 0;  // seconds since the epoch
  std::vector<JournalStep> steps;
  std::string phase = "planned";  // planned | executing | rolling-back | finishing
  bool operator==(const SwitchJournal&) const = default;

  // The index of the first step not done, or steps.size().
  [[nodiscard]] std::size_t next_step() const;
  // Marks the first step named `what` that is not done yet as done; false when none.
  bool mark_done(std::string_view what);
};

nlohmann::json journal_to_json(const SwitchJournal& journal);
// Parses a journal document; error code EBADMSG with what is wrong ("no 'to' field", "not JSON").
detect::Result<SwitchJournal> journal_from_json(std::string_view text);

// Writes `journal` atomically (temp file, fsync, rename, fsync of the directory), mode 0600.
// Creates the directory (and missing parents, 0755) when missing and refuses one others could
// write.
detect::Status write_journal(const std::filesystem::path& file, const SwitchJournal& journal);

struct JournalRead {
  std::optional<SwitchJournal> journal;  // present and valid
  std::string problem;                   // corrupt or truncated: what is wrong (never fatal)
  std::filesystem::path moved_to;        // where the corrupt file was moved aside
};

// Reads the journal. Missing: an empty JournalRead. Corrupt, truncated or too big: moved aside
// to `<file>.corrupt-<seconds>` and `problem` says so; never an error for the content. An Error
// only when the file or its directory may not be trusted or cannot be read.
detect::Result<JournalRead> read_journal(const std::filesystem::path& file);

// Removes the journal and fsyncs its directory. Absent is fine.
detect::Status remove_journal(const std::filesystem::path& file);

}  // namespace stackmgr::switching
