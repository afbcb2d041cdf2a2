// The module record (/run/stackmgr/loaded-modules), which decides what `stop --unload` removes:
// any text into ModuleRecord::parse. It keeps only valid module names, and what it keeps
// survives being written and read back; a line it refuses is named.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "detect/catalog.hpp"
#include "stackmgr/switch/module_record.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using stackmgr::switching::ModuleRecord;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto record = ModuleRecord::parse(text, "/run/stackmgr/loaded-modules");
  if (!record) {
    fuzz::require(record.error().code == EINVAL);
    fuzz::require(record.error().message.rfind("/run/stackmgr/loaded-modules:", 0) == 0);
    return 0;
  }
  for (const std::string& name : record->modules()) {
    fuzz::require(detect::is_valid_module_name(name) && name == detect::normal_module_name(name));
  }
  const auto again = ModuleRecord::parse(record->text(), "/run/stackmgr/loaded-modules");
  fuzz::require(again.ok() && again->modules() == record->modules());
  return 0;
}
