#pragma once
// The executor: runs a Plan against the kernel through a ModuleBackend, re-checking the rules
// on fresh state before every insert, verifying every insert, and rolling back on failure.
// (Contract draft: the modules/ implementation may refine names, not the guarantees.)

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "detect/module_backend.hpp"
#include "detect/snapshot.hpp"
#include "modules/clock.hpp"
#include "modules/plan.hpp"

namespace modules {

class GuardFile;

enum class Outcome {
  done,             // the target state was reached and verified
  already_there,    // nothing to do
  refused,          // a rule refused a step on fresh state; nothing was changed
  rolled_back,      // a step failed; the start state was restored
  rollback_failed,  // a step failed and so did the rollback; see `final`
};
std::string_view to_string(Outcome outcome);

struct StepRecord {
  Step step;
  bool rollback = false;  // part of the rollback, not the plan
  bool ok = false;
  std::string detail;     // the error, or what was verified
  std::chrono::milliseconds took{0};
};

// Called as steps happen, so the CLI and the control socket can show them live.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  virtual void step_started(const Step& step, bool rollback) = 0;
  virtual void step_finished(const StepRecord& record) = 0;
};

struct ExecutionReport {
  Outcome outcome = Outcome::done;
  std::vector<StepRecord> records;          // plan steps, then rollback steps
  std::optional<Refusal> refusal;           // when outcome == refused
  std::optional<detect::Error> failure;     // the step error that started a rollback
  std::set<std::string> loaded;             // modules this run loaded (dependencies included)
  std::set<std::string> unloaded;           // modules this run unloaded
  detect::Snapshot final;                   // re-detected at the end
};

}  // namespace modules
