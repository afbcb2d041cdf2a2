// The chosen-stack file (/var/lib/stackmgr/stack), which `start` reads at every boot: any text
// into parse_chosen_stack. It gives a stack only for one stack name among comments, and a
// printable, bounded warning for anything else; what stackmgr writes reads back the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "stackmgr/config/chosen_stack_file.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace stackmgr::config;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ChosenStackRead read = parse_chosen_stack(text, "/var/lib/stackmgr/stack");
  fuzz::require(read.stack.has_value() == read.warning.empty());
  fuzz::require_printable(read.warning, 400);
  if (read.stack) {
    fuzz::require(parse_chosen_stack(chosen_stack_text(*read.stack), "/var/lib/stackmgr/stack").stack ==
                  read.stack);
  }
  return 0;
}
