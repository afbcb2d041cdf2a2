// The three KLIPS tables (eroute, spi, spigrp, split at 0x1e bytes) through the parsers, the
// common view, its JSON and its table: hostile /proc text must not break `stackmgr look`.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string_view>

#include "detect/klips_proc.hpp"
#include "stackmgr/look/kernel_state.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {

std::string_view next_part(std::string_view& rest) {
  const std::size_t separator = rest.find('\x1e');
  const std::string_view part = rest.substr(0, separator);
  rest = separator == std::string_view::npos ? std::string_view{} : rest.substr(separator + 1);
  return part;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  const std::string_view eroute = next_part(rest);
  const std::string_view spi = next_part(rest);
  const bool has_spigrp = !rest.empty();
  const std::string_view spigrp = rest;

  detect::KlipsState klips;
  klips.eroutes = detect::parse_klips_eroutes(eroute).rows;
  klips.sas = detect::parse_klips_spis(spi).rows;
  klips.groups = detect::parse_klips_spigrps(spigrp).rows;
  klips.groups_read = has_spigrp;

  const auto state = stackmgr::look::state_from_klips(klips);
  fuzz::require(state.policies.size() == klips.eroutes.size());
  fuzz::require(state.sas.size() == klips.sas.size());

  detect::Snapshot snapshot;
  snapshot.overall = detect::Overall::klips;
  const stackmgr::look::LookReaders readers{
      [] { return detect::Result<stackmgr::os::XfrmDump>(stackmgr::os::XfrmDump{}); },
      [&klips] { return detect::Result<detect::KlipsState>(klips); }};
  const auto report =
      stackmgr::look::build_look_report(snapshot, stackmgr::look::LookSource::automatic, readers);
  (void)stackmgr::look::look_to_json(report).dump(2, ' ', false,
                                                  nlohmann::ordered_json::error_handler_t::replace);
  const std::string table = stackmgr::look::render_look(report);
  for (const char c : table) {
    const auto byte = static_cast<unsigned char>(c);
    fuzz::require(c == '\n' || c == '\t' || byte >= 0x20);
  }
  return 0;
}
