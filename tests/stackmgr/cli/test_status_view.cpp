// What `stackmgr status` prints for the documents a supervisor sends, including the parts
// a busy or older supervisor leaves out.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stackmgr/cli/status_view.hpp"

namespace stackmgr::cli {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

// The document a supervisor sends while its module worker switches stacks: no module
// list and no kernel counts, since the worker owns libkmod and the kernel is changing.
json document_while_switching() {
  return json::parse(R"json({
    "schema": "stackmgr.status/1",
    "supervisor": {"running": true, "phase": "unloading", "pid": 412, "uptime_s": 75,
                   "module_mode": "manage", "status": "switching to the native stack"},
    "module_work": {"doing": "switching to the native stack", "step": "remove ipsec", "for_s": 4.2},
    "stack": {"chosen": "native", "active": "klips", "explanation": "native (from the switch command)"},
    "overall": "changing",
    "daemon": {"name": "pluto", "state": "stopped", "restarts": 0, "last_exit": null},
    "kernel": {
  "error" : "not read while the supervisor changes modules"
}
})json");
}

TEST(StatusView, ASwitchUnderWayShowsTheStepAndSaysTheKernelIsNotRead) {
  const std::string text = render_status(document_while_switching());
  EXPECT_THAT(text, HasSubstr("stackmgr: unloading, pid 412, up 1m 15s (modules.mode manage)"));
  EXPECT_THAT(text, HasSubstr("switching to the native stack for 4s: remove ipsec"));
  EXPECT_THAT(text, HasSubstr("in the kernel: klips (changing)"));
  EXPECT_THAT(text,
              HasSubstr("kernel:   SAD/SPD not readable: not read while the supervisor changes modules"));
  EXPECT_THAT(text, Not(HasSubstr("modules:")));
}

TEST(StatusView, MissingOrMistypedPartsAreShownAsUnknownNotAnError) {
  EXPECT_THAT(render_status(json::object()), HasSubstr("stackmgr: not running"));
  json odd = document_while_switching();
  odd["supervisor"]["uptime_s"] = "long";
  odd["daemon"] = json::array();
  odd["modules"] = json::array({42, {{"role", "core"}, {"stack", "native"}}});
  odd["watch"] = {{"events", json::array({"not an object"})}};
  std::string text;
  ASSERT_NO_THROW(text = render_status(odd));
  EXPECT_THAT(text, HasSubstr("pid 412, up 0s"));
  EXPECT_THAT(text, HasSubstr("modules:  - -"));
}

}  // namespace
}  // namespace stackmgr::cli
