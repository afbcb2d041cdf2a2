// /proc/net/ipsec_spi text into the SA parser.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "detect/klips_proc.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto table = detect::parse_klips_spis(text);
  fuzz::require_sane(table, text);
  for (const auto& row : table.rows) fuzz::require(!row.transform.empty());
  return 0;
}
