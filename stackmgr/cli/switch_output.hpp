#pragma once
// What `stackmgr plan` and `stackmgr switch` print: readable text, or JSON with the stable
// schemas "stackmgr.plan/1" and "stackmgr.switch/1" (docs/switch.md).

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "modules/plan.hpp"
#include "stackmgr/switch/switch_direct.hpp"

namespace stackmgr::cli {

inline constexpr const char* kPlanSchema = "stackmgr.plan/1";
inline constexpr const char* kSwitchSchema = "stackmgr.switch/1";

// "KLIPS" or "the native stack".
std::string stack_title(detect::Stack stack);

// A plan as numbered steps with their reasons, then its notes; or "already in place".
std::string render_plan(const modules::Plan& plan);
// "refused (rule klips_over_native): refusing ...; run ..."
std::string render_refusal(const modules::Refusal& refusal);
// The closing lines of a switch: the outcome, what changed, and what to do when it failed.
std::string render_switch_summary(const switching::SwitchResult& result);

nlohmann::ordered_json plan_to_json(const modules::PlanOrRefusal& plan, detect::Stack target);
nlohmann::ordered_json switch_to_json(const switching::SwitchResult& result);

// Prints each step as it happens, with its duration, to `out` (one line per step).
class ConsoleSwitchObserver final : public switching::SwitchObserver {
 public:
  explicit ConsoleSwitchObserver(std::FILE* out) : out_(out) {}
  void waiting_for_lock(std::optional<pid_t> holder) override;
  void planned(const modules::Plan& plan) override;
  void step_started(const modules::Step& step, modules::Phase phase) override;
  void step_finished(const modules::StepRecord& record) override;

 private:
  std::FILE* out_;
  std::size_t total_ = 0;
  std::size_t forward_ = 0;
  std::size_t rollback_ = 0;
};

}  // namespace stackmgr::cli
