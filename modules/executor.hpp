#pragma once
// The executor: runs a Plan against the kernel through a ModuleBackend, re-checking the rules
// on fresh state before every insert, verifying every insert, and rolling back on failure.
//
// Guarantees:
// - Before every insert (plan or rollback) it re-reads the state and calls check_insert; an
//   unsafe insert is never attempted, not even to roll back.
// - After every insert it verifies the module is live (bounded wait while it is coming); a
//   load call that "succeeded" without a live module is a failure.
// - Removes wait (bounded) for going modules; a busy module is a failure naming its holders.
// - It stops at the first failure or refusal and rolls back to the start state: it unloads
//   what the run loaded, restores the guard, and reloads what it unloaded, in a safe order.
// - A stop request (ExecutorContext::stop_requested) is honoured between two plan steps, as a
//   failure of the next one: the run rolls back and reports rolled_back. A step under way is
//   never cut short, and the rollback itself is never interrupted.

#include <chrono>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "detect/snapshot.hpp"
#include "modules/clock.hpp"
#include "modules/guard_file.hpp"
#include "modules/holder_lookup.hpp"
#include "modules/module_backend.hpp"
#include "modules/plan.hpp"

namespace modules {

enum class Outcome {
  done,             // the target state was reached and verified
  already_there,    // nothing to do
  refused,          // a rule refused a step on fresh state; what the run had done was undone
  rolled_back,      // a step failed; the start state was restored
  rollback_failed,  // a step failed and so did the rollback; see the records and `final`
};
std::string_view to_string(Outcome outcome);

enum class Phase { forward, rollback };
std::string_view to_string(Phase phase);

enum class StepStatus {
  ok,       // done and verified (or nothing was needed)
  skipped,  // a best-effort step left undone on purpose (a dependency still in use)
  refused,  // check_insert refused it on fresh state; nothing was attempted
  failed,   // attempted and failed
};
std::string_view to_string(StepStatus status);

struct StepRecord {
  Step step;
  Phase phase = Phase::forward;
  StepStatus status = StepStatus::ok;
  std::string detail;  // the error, or what was verified
  std::chrono::microseconds took{0};
  [[nodiscard]] bool succeeded() const { return status == StepStatus::ok || status == StepStatus::skipped; }
};

// Called as steps happen, so the CLI and the control socket can show them live.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  virtual void step_started(const Step& step, Phase phase) = 0;
  virtual void step_finished(const StepRecord& record) = 0;
};

struct ExecutionReport {
  Outcome outcome = Outcome::done;
  std::vector<StepRecord> records;       // plan steps, then rollback steps
  std::optional<Refusal> refusal;        // the refusal that stopped the run (outcome refused, or
                                         // rollback_failed after a refusal)
  std::optional<detect::Error> failure;  // the step error that started a rollback
  std::set<std::string> loaded;          // loaded by this run and still loaded (dependencies too)
  std::set<std::string> unloaded;        // unloaded by this run and still unloaded
  std::vector<std::string> notes;        // e.g. where the final state differs from the start
  detect::Snapshot final;                // re-detected at the end
};

struct ExecutorTimeouts {
  std::chrono::milliseconds coming{10000};  // an inserted module may stay COMING this long
  std::chrono::milliseconds going{10000};   // a removed module may stay GOING this long
  std::chrono::milliseconds poll{20};       // between two reads of the module list
};

// Re-reads the host (detect::detect_host in production).
using Redetect = std::function<detect::Snapshot()>;

struct ExecutorContext {
  ModuleBackend& backend;
  AutoloadGuard& guard;
  Clock& clock;
  Redetect redetect;  // required
  // The fresh state each insert is checked on. It must re-read everything the kernel can
  // change (loaded modules, markers, the guard); it may keep the module index facts of the
  // plan's detection. Optional: redetect when empty.
  Redetect recheck{};
  const ProcessHolderLookup* holders = nullptr;  // names processes in busy failures, optional
  StepObserver* observer = nullptr;              // optional
  ExecutorTimeouts timeouts{};
  std::function<bool()> stop_requested{};  // optional; asked before every plan step
};

// Runs `plan` with the guarantees above. Never throws for kernel conditions; they are in the
// report. Throws std::invalid_argument when context.redetect is empty.
ExecutionReport execute(const Plan& plan, const ExecutorContext& context);

}  // namespace modules
