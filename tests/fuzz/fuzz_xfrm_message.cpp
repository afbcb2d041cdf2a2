// One XFRM netlink message (as the kernel sends in dumps) into both message parsers, then through
// the common view and its JSON: a short or lying message must be an error, never a wild read.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "stackmgr/look/kernel_state.hpp"
#include "stackmgr/os/xfrm_netlink.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  stackmgr::os::XfrmDump dump;
  auto sa = stackmgr::os::parse_xfrm_sa(data, size);
  if (sa)
    dump.sas.push_back(std::move(sa).value());
  else
    dump.problems.push_back(sa.error().message);
  auto policy = stackmgr::os::parse_xfrm_policy(data, size);
  if (policy)
    dump.policies.push_back(std::move(policy).value());
  else
    dump.problems.push_back(policy.error().message);
  fuzz::require(dump.sas.size() + dump.policies.size() <= 1);  // a message has one type

  detect::Snapshot snapshot;
  snapshot.overall = detect::Overall::native;
  const stackmgr::look::LookReaders readers{
      [&dump] { return detect::Result<stackmgr::os::XfrmDump>(dump); },
      [] { return detect::Result<detect::KlipsState>(detect::KlipsState{}); }};
  const auto report =
      stackmgr::look::build_look_report(snapshot, stackmgr::look::LookSource::automatic, readers);
  (void)stackmgr::look::look_to_json(report).dump(2, ' ', false,
                                                  nlohmann::ordered_json::error_handler_t::replace);
  (void)stackmgr::look::render_look(report);
  return 0;
}
