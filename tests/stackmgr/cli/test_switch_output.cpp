// What plan and switch print: the readable text and the JSON schemas.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>

#include "stackmgr/cli/switch_output.hpp"

namespace stackmgr::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

modules::Plan klips_plan() {
  modules::Plan plan;
  plan.target = detect::Stack::klips;
  plan.steps = {{modules::StepKind::set_guard, "", "block autoloading", modules::Need::required},
                {modules::StepKind::remove, "esp4", "native module", modules::Need::required},
                {modules::StepKind::insert, "ipsec", "core module of KLIPS", modules::Need::required}};
  plan.notes = {"helpers not available for this kernel, not loaded: ipsec_aes"};
  return plan;
}

stackmgr::switching::SwitchResult rolled_back_result() {
  stackmgr::switching::SwitchResult result;
  result.status = stackmgr::switching::SwitchStatus::executed;
  result.target = detect::Stack::klips;
  result.plan = klips_plan();
  modules::ExecutionReport report;
  report.outcome = modules::Outcome::rolled_back;
  report.failure = detect::Error{EIO, "loading ipsec failed: inserting ipsec"};
  report.records = {{result.plan->steps[1], modules::Phase::forward, modules::StepStatus::ok, "unloaded",
                     std::chrono::microseconds(12500)},
                    {result.plan->steps[2], modules::Phase::forward, modules::StepStatus::failed,
                     "loading ipsec failed", std::chrono::microseconds(300)},
                    {{modules::StepKind::insert, "esp4", "rollback", modules::Need::required},
                     modules::Phase::rollback,
                     modules::StepStatus::ok,
                     "live (verified)",
                     std::chrono::microseconds(4000)}};
  result.report = report;
  return result;
}

TEST(RenderPlan, NumbersTheStepsWithTheirReasonsAndListsTheNotes) {
  const std::string text = stackmgr::cli::render_plan(klips_plan());
  EXPECT_THAT(text, HasSubstr("plan: switch to KLIPS in 3 steps\n"));
  EXPECT_THAT(text, HasSubstr("  1. set autoload guard"));
  EXPECT_THAT(text, HasSubstr("  2. unload esp4"));
  EXPECT_THAT(text, HasSubstr("native module"));
  EXPECT_THAT(text, HasSubstr("  3. load ipsec"));
  EXPECT_THAT(text, HasSubstr("notes:\n  - helpers not available"));
  modules::Plan empty;
  EXPECT_THAT(stackmgr::cli::render_plan(empty),
              HasSubstr("already there: the native stack is in place; nothing to do"));
}

TEST(RenderRefusal, NamesTheRuleThenWhatAndWhatToDo) {
  const modules::Refusal refusal{modules::Rule::klips_over_native,
                                 {"af_key"},
                                 "refusing to load KLIPS: af_key is loaded",
                                 "run 'stackmgr switch klips' to unload them first"};
  EXPECT_EQ(stackmgr::cli::render_refusal(refusal),
            "refused (rule klips_over_native): refusing to load KLIPS: af_key is loaded; run 'stackmgr "
            "switch klips' "
            "to unload them first\n");
}

TEST(RenderSwitchSummary, SaysWhatFailedAndThatTheHostIsBack) {
  const std::string text = stackmgr::cli::render_switch_summary(rolled_back_result());
  EXPECT_THAT(text, HasSubstr("failed: loading ipsec failed: inserting ipsec: Input/output error"));
  EXPECT_THAT(text, HasSubstr("rolled back: the host is back where it was"));
}

TEST(RenderSwitchSummary, ARollbackFailureSaysSoLoudlyAndWhatIsInTheKernel) {
  stackmgr::switching::SwitchResult result = rolled_back_result();
  result.report->outcome = modules::Outcome::rollback_failed;
  result.report->notes = {"the start state was not restored: ipsec is still loaded"};
  detect::ModuleStatus ipsec;
  ipsec.spec = {"ipsec", detect::Stack::klips, detect::ModuleRole::core};
  ipsec.state = detect::ModuleState::coming;
  result.report->final.modules = {ipsec};
  const std::string text = stackmgr::cli::render_switch_summary(result);
  EXPECT_THAT(text, HasSubstr("ROLLBACK FAILED"));
  EXPECT_THAT(text, HasSubstr("ipsec is still loaded"));
  EXPECT_THAT(text, HasSubstr("In the kernel now: ipsec (coming)"));
  EXPECT_THAT(text, HasSubstr("loaded nothing unsafe"));
}

TEST(RenderSwitchSummary, DoneNamesWhatChanged) {
  stackmgr::switching::SwitchResult result = rolled_back_result();
  result.report->outcome = modules::Outcome::done;
  result.report->loaded = {"ipsec"};
  result.report->unloaded = {"esp4"};
  EXPECT_THAT(stackmgr::cli::render_switch_summary(result),
              HasSubstr("done: switched to KLIPS in 17 ms (unloaded esp4; loaded ipsec)"));
}

TEST(PlanJson, HasTheSchemaStepsAndNullRefusal) {
  const auto json = stackmgr::cli::plan_to_json(klips_plan(), detect::Stack::klips);
  EXPECT_EQ(json["schema"], "stackmgr.plan/1");
  EXPECT_EQ(json["target"], "klips");
  EXPECT_EQ(json["result"], "plan");
  ASSERT_EQ(json["steps"].size(), 3U);
  EXPECT_EQ(json["steps"][0]["kind"], "set_guard");
  EXPECT_TRUE(json["steps"][0]["module"].is_null());
  EXPECT_EQ(json["steps"][1]["module"], "esp4");
  EXPECT_EQ(json["steps"][1]["need"], "required");
  EXPECT_TRUE(json["refusal"].is_null());

  const modules::Refusal refusal{modules::Rule::busy_module, {"af_key"}, "m", "a"};
  const auto refused = stackmgr::cli::plan_to_json(refusal, detect::Stack::klips);
  EXPECT_EQ(refused["result"], "refused");
  EXPECT_EQ(refused["refusal"]["rule"], "busy_module");
  EXPECT_EQ(refused["refusal"]["modules"][0], "af_key");
}

TEST(SwitchJson, CarriesOutcomeExitCodeRecordsAndFailure) {
  const auto json = stackmgr::cli::switch_to_json(rolled_back_result());
  EXPECT_EQ(json["schema"], "stackmgr.switch/1");
  EXPECT_EQ(json["outcome"], "rolled_back");
  EXPECT_EQ(json["exit_code"], 4);
  EXPECT_EQ(json["failure"]["errno"], EIO);
  ASSERT_EQ(json["records"].size(), 3U);
  EXPECT_EQ(json["records"][0]["took_ms"], 12.5);
  EXPECT_EQ(json["records"][1]["status"], "failed");
  EXPECT_EQ(json["records"][2]["phase"], "rollback");
  EXPECT_TRUE(json.contains("final"));
}

TEST(ConsoleSwitchObserver, PrintsEachStepWithItsDurationAsItHappens) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = ::open_memstream(&buffer, &size);
  ASSERT_NE(out, nullptr);
  {
    stackmgr::cli::ConsoleSwitchObserver console(out);
    const auto result = rolled_back_result();
    console.planned(*result.plan);
    for (const auto& record : result.report->records) {
      console.step_started(record.step, record.phase);
      console.step_finished(record);
    }
  }
  std::fclose(out);
  const std::string text(buffer, size);
  std::free(buffer);
  EXPECT_THAT(text, HasSubstr("switching to KLIPS: 3 steps\n"));
  EXPECT_THAT(text, HasSubstr("[1/3]    unload esp4"));
  EXPECT_THAT(text, HasSubstr("ok (12 ms): unloaded\n"));
  EXPECT_THAT(text, HasSubstr("failed (0.3 ms): loading ipsec failed\n"));
  EXPECT_THAT(text, HasSubstr("rolling back:\n  [undo 1] load esp4"));
  EXPECT_THAT(text, Not(HasSubstr("[3/3]")));
}

}  // namespace
}  // namespace stackmgr::cli
