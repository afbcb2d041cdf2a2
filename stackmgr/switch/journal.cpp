#include "stackmgr/switch/journal.hpp"

#include <cerrno>
#include <chrono>
#include <limits>

#include "modules/atomic_file.hpp"
#include "stackmgr/os/file_trust.hpp"

namespace stackmgr::switching {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxJournalBytes = std::size_t{64} * 1024;

detect::Error bad(const std::string& why) { return detect::Error{EBADMSG, why}; }

std::optional<detect::Stack> stack_field(const json& value) {
  if (!value.is_string()) return std::nullopt;
  return detect::parse_stack(value.get<std::string>());
}

}  // namespace

std::string_view to_string(JournalVia via) { return via == JournalVia::supervisor ? "supervisor" : "direct"; }

std::size_t SwitchJournal::next_step() const {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (!steps[i].done) return i;
  }
  return steps.size();
}

bool SwitchJournal::mark_done(std::string_view what) {
  for (JournalStep& step : steps) {
    if (!step.done && step.what == what) {
      step.done = true;
      return true;
    }
  }
  return false;
}

json journal_to_json(const SwitchJournal& journal) {
  json steps = json::array();
  for (const JournalStep& step : journal.steps) steps.push_back({{"what", step.what}, {"done", step.done}});
  return {{"schema", "stackmgr.switch-journal/1"},
          {"version", kJournalVersion},
          {"from", journal.from ? json(std::string(detect::to_string(*journal.from))) : json(nullptr)},
          {"to", std::string(detect::to_string(journal.to))},
          {"via", std::string(to_string(journal.via))},
          {"pid", journal.pid},
          {"started_at", journal.started_at},
          {"phase", journal.phase},
          {"steps", steps}};
}

detect::Result<SwitchJournal> journal_from_json(std::string_view text) {
  const json document = json::parse(text, nullptr, false);
  if (document.is_discarded()) return bad("it is not valid JSON (truncated or corrupt)");
  if (!document.is_object()) return bad("it is not a JSON object");
  // Compared as JSON numbers: get<int>() would wrap 4294967297 around to 1.
  if (!document.contains("version") || !document["version"].is_number_integer() ||
      document["version"] != kJournalVersion) {
    return bad("it has no 'version' " + std::to_string(kJournalVersion));
  }
  SwitchJournal journal;
  const auto to = document.contains("to") ? stack_field(document["to"]) : std::nullopt;
  if (!to) return bad("its 'to' is not a stack name");
  journal.to = *to;
  if (!document.contains("from")) return bad("it has no 'from' field");
  if (!document["from"].is_null()) {
    journal.from = stack_field(document["from"]);
    if (!journal.from) return bad("its 'from' is neither a stack name nor null");
  }
  if (document.contains("via") && document["via"] == "supervisor") journal.via = JournalVia::supervisor;
  // Informative only (the log names it); a number no pid can be is left out, not wrapped.
  if (document.contains("pid") && document["pid"].is_number_integer() && document["pid"] > 0 &&
      document["pid"] <= std::numeric_limits<pid_t>::max()) {
    journal.pid = document["pid"].get<pid_t>();
  }
  if (document.contains("started_at") && document["started_at"].is_number_integer()) {
    journal.started_at = document["started_at"].get<std::int64_t>();
  }
  if (document.contains("phase") && document["phase"].is_string()) journal.phase = document["phase"];
  if (!document.contains("steps") || !document["steps"].is_array()) return bad("it has no 'steps' list");
  for (const json& step : document["steps"]) {
    if (!step.is_object() || !step.contains("what") || !step["what"].is_string() || !step.contains("done") ||
        !step["done"].is_boolean()) {
      return bad("a step is not {\"what\": text, \"done\": true|false}");
    }
    journal.steps.push_back(JournalStep{step["what"].get<std::string>(), step["done"].get<bool>()});
  }
  return journal;
}

detect::Status write_journal(const std::filesystem::path& file, const SwitchJournal& journal) {
  const std::filesystem::path directory = file.parent_path();
  if (!file.is_absolute() || !file.has_filename()) {
    return detect::Error{EINVAL,
                         "writing the switch journal " + file.string() + ": not an absolute file path"};
  }
  if (detect::Status made = modules::ensure_directory(directory, 0755); !made) return made;
  if (detect::Status trusted = os::check_trusted(directory, os::TrustedKind::directory); !trusted)
    return trusted;
  return modules::write_file_atomically(file, journal_to_json(journal).dump(2) + "\n", 0600);
}

detect::Result<JournalRead> read_journal(const std::filesystem::path& file) {
  JournalRead read;
  detect::Result<std::string> text = os::read_trusted_file(file, os::kRootUid, kMaxJournalBytes);
  std::string problem = "it is larger than a journal can be";
  if (!text) {
    if (text.error().code == ENOENT) return read;
    if (text.error().code != EFBIG) return text.error();
  } else {
    auto parsed = journal_from_json(*text);
    if (parsed) {
      read.journal = std::move(parsed).value();
      return read;
    }
    problem = parsed.error().message;
  }
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  std::filesystem::path aside = file;
  aside += ".corrupt-" + std::to_string(now);
  read.problem = "the switch journal " + file.string() + " is unusable: " + problem;
  if (detect::Status moved = modules::move_file_durably(file, aside); moved) {
    read.moved_to = aside;
    read.problem += "; moved it aside to " + aside.string();
  } else {
    read.problem += "; could not move it aside (" + moved.error().describe() + ")";
  }
  return read;
}

detect::Status remove_journal(const std::filesystem::path& file) {
  return modules::remove_file_durably(file);
}

}  // namespace stackmgr::switching
