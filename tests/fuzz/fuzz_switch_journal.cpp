// The switch journal (/var/lib/stackmgr/journal) as `start` reads it after a crash or a power
// cut: any bytes into journal_from_json. What it accepts is a journal stackmgr could have
// written, and writing it back gives the same journal; what it refuses, it says why, briefly.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stackmgr/switch/journal.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using stackmgr::switching::journal_from_json;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto journal = journal_from_json(text);
  if (!journal) {
    fuzz::require(journal.error().code == EBADMSG);
    fuzz::require_printable(journal.error().message, 200);
    return 0;
  }
  // Only version 1, and a 'version' that is exactly the integer 1 (not 1.0, not 2^32 + 1).
  const auto document = nlohmann::json::parse(text);
  fuzz::require(document.at("version").is_number_integer() && document.at("version") == 1);
  for (const auto& step : journal->steps) fuzz::require(step.what.size() <= size);
  fuzz::require(journal->next_step() <= journal->steps.size());
  const auto again = journal_from_json(stackmgr::switching::journal_to_json(*journal).dump());
  fuzz::require(again.ok() && *again == *journal);
  return 0;
}
