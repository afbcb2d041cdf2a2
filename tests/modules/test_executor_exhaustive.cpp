// The exhaustive run: every start state over a representative module set (af_key, esp4, ah4,
// xfrm_user, ipsec: each absent, available, live or built in), with and without the guard,
// with and without a record of what stackmgr loaded, x each target x an injected failure at
// every step (and none). The invariant every time: the fake kernel never records a crash (an
// unsafe insert), and the run ends in the start state or the target state, with an outcome
// that is exactly the one the injected failure calls for.
#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "modules/executor.hpp"
#include "modules/planner.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/fake_guard.hpp"
#include "tests/support/fake_kernel.hpp"
#include "tests/support/fake_snapshot.hpp"

namespace {

using detect::DiskState;
using detect::Stack;
using modules::Need;
using modules::Outcome;
using modules::StepKind;

enum class Start { absent, available, live, builtin };
constexpr std::array<Start, 4> kStarts{Start::absent, Start::available, Start::live, Start::builtin};
const char* to_text(Start start) {
  switch (start) {
    case Start::absent: return "absent";
    case Start::available: return "available";
    case Start::live: return "live";
    case Start::builtin: return "builtin";
  }
  return "?";
}

// The representative set, with the roles of the default catalog.
struct Member {
  const char* name;
  Stack stack;
  detect::ModuleRole role;
};
constexpr std::array<Member, 5> kMembers{{
    {"af_key", Stack::native, detect::ModuleRole::core},
    {"esp4", Stack::native, detect::ModuleRole::core},
    {"ah4", Stack::native, detect::ModuleRole::core},
    {"xfrm_user", Stack::native, detect::ModuleRole::helper},
    {"ipsec", Stack::klips, detect::ModuleRole::core},
}};

enum class Fault {
  none,
  insert_error,         // the load call fails (EIO)
  insert_silent,        // the load call "succeeds" and nothing loads (PF_KEY -EEXIST)
  insert_slow_coming,   // COMING for a while, live within the bound
  insert_late_coming,   // COMING past the bound, live during the rollback
  insert_stuck_coming,  // COMING forever
  remove_error,         // the unload call fails (EIO)
  remove_busy,          // something takes a reference after the plan (EAGAIN)
  remove_slow_going,    // GOING for a while, gone within the bound
  remove_late_going,    // GOING past the bound, gone during the rollback
  remove_stuck_going,   // GOING forever
  guard_error,          // writing or removing the guard file fails
};
const char* to_text(Fault fault) {
  switch (fault) {
    case Fault::none: return "none";
    case Fault::insert_error: return "insert_error";
    case Fault::insert_silent: return "insert_silent";
    case Fault::insert_slow_coming: return "insert_slow_coming";
    case Fault::insert_late_coming: return "insert_late_coming";
    case Fault::insert_stuck_coming: return "insert_stuck_coming";
    case Fault::remove_error: return "remove_error";
    case Fault::remove_busy: return "remove_busy";
    case Fault::remove_slow_going: return "remove_slow_going";
    case Fault::remove_late_going: return "remove_late_going";
    case Fault::remove_stuck_going: return "remove_stuck_going";
    case Fault::guard_error: return "guard_error";
  }
  return "?";
}

std::vector<Fault> faults_for(StepKind kind) {
  switch (kind) {
    case StepKind::insert:
      return {Fault::insert_error, Fault::insert_silent, Fault::insert_slow_coming, Fault::insert_late_coming,
              Fault::insert_stuck_coming};
    case StepKind::remove:
      return {Fault::remove_error, Fault::remove_busy, Fault::remove_slow_going, Fault::remove_late_going,
              Fault::remove_stuck_going};
    case StepKind::set_guard:
    case StepKind::clear_guard: return {Fault::guard_error};
  }
  return {};
}

// Bound = 10 polls. Slow settles within it; late settles within the rollback's own wait.
constexpr modules::ExecutorTimeouts kTimeouts{std::chrono::milliseconds(200), std::chrono::milliseconds(200),
                                              std::chrono::milliseconds(20)};
constexpr int kSlowPolls = 3;
constexpr int kLatePolls = 15;
constexpr int kForever = 1'000'000;

// The outcome a single injected fault calls for. `reload_unsafe`: the rollback would have to
// load a module back over the other stack (a start state with both stacks in the kernel).
Outcome expected_outcome(Fault fault, Need need, bool reload_unsafe) {
  switch (fault) {
    case Fault::none:
    case Fault::insert_slow_coming:
    case Fault::remove_slow_going: return Outcome::done;
    default: break;
  }
  if (need == Need::best_effort) return Outcome::done;  // a dependency is kept, not failed
  if (fault == Fault::insert_stuck_coming || fault == Fault::remove_stuck_going) {
    // The start state is unreachable: a module that never finishes loading cannot be
    // unloaded, and one that never finishes unloading cannot be loaded again.
    return Outcome::rollback_failed;
  }
  // Reloading what the run unloaded would break rule 1 or 2: the executor refuses, so the
  // start state is unreachable and says so.
  if (reload_unsafe) return Outcome::rollback_failed;
  return Outcome::rolled_back;
}

struct StartState {
  std::array<Start, kMembers.size()> modules{};
  bool guard = false;
  bool with_record = false;  // stackmgr loaded every live module (and xfrm_algo)

  [[nodiscard]] std::string describe() const {
    std::ostringstream text;
    for (std::size_t i = 0; i < kMembers.size(); ++i)
      text << kMembers[i].name << "=" << to_text(modules[i]) << " ";
    text << "guard=" << guard << " record=" << with_record;
    return text.str();
  }
};

detect::Catalog representative_catalog() {
  detect::Catalog catalog;
  for (const Member& member : kMembers) {
    EXPECT_TRUE(catalog.add({member.name, member.stack, member.role}).ok());
  }
  return catalog;
}

struct Case {
  detect::Catalog catalog = representative_catalog();
  fake::FakeKernel kernel{catalog};
  fake::FakeGuard guard;
  fake::FakeClock clock;
  modules::Policy policy;

  explicit Case(const StartState& start) : guard(start.guard) {
    kernel.add_module("xfrm_algo", DiskState::available);
    bool native_live = false;
    for (std::size_t i = 0; i < kMembers.size(); ++i) {
      const Member& member = kMembers[i];
      const std::vector<std::string> deps =
          member.stack == Stack::native ? std::vector<std::string>{"xfrm_algo"} : std::vector<std::string>{};
      switch (start.modules[i]) {
        case Start::absent: kernel.add_module(member.name, DiskState::absent); break;
        case Start::available: kernel.add_module(member.name, DiskState::available, deps); break;
        case Start::builtin: kernel.add_module(member.name, DiskState::builtin, deps); break;
        case Start::live:
          kernel.add_module(member.name, DiskState::available, deps);
          kernel.set_loaded(member.name);  // conflict states too: set, not inserted
          if (start.with_record) policy.loaded_by_us.insert(member.name);
          native_live = native_live || member.stack == Stack::native;
          break;
      }
    }
    if (native_live) {
      kernel.set_loaded("xfrm_algo");
      if (start.with_record) policy.loaded_by_us.insert("xfrm_algo");
    }
  }

  detect::Snapshot snapshot() const {
    fake::HostFacts facts;
    facts.guard_installed = guard.is_set();
    return fake::snapshot_of(kernel, catalog, facts);
  }

  void inject(Fault fault, const modules::Step& step) {
    const std::string& name = step.module;
    switch (fault) {
      case Fault::none: break;
      case Fault::insert_error: kernel.fail_insert(name, EIO); break;
      case Fault::insert_silent: kernel.fail_insert_silently(name); break;
      case Fault::insert_slow_coming: kernel.stay_coming(name, kSlowPolls); break;
      case Fault::insert_late_coming: kernel.stay_coming(name, kLatePolls); break;
      case Fault::insert_stuck_coming: kernel.stay_coming(name, kForever); break;
      case Fault::remove_error: kernel.fail_remove(name, EIO); break;
      case Fault::remove_busy: kernel.hold(name); break;
      case Fault::remove_slow_going: kernel.stay_going(name, kSlowPolls); break;
      case Fault::remove_late_going: kernel.stay_going(name, kLatePolls); break;
      case Fault::remove_stuck_going: kernel.stay_going(name, kForever); break;
      case Fault::guard_error:
        if (step.kind == StepKind::set_guard) guard.fail_set();
        if (step.kind == StepKind::clear_guard) guard.fail_clear();
        break;
    }
  }

  modules::ExecutionReport execute(const modules::Plan& plan) {
    modules::ExecutorContext context{kernel, guard, clock, [this] { return snapshot(); }};
    context.timeouts = kTimeouts;
    return modules::execute(plan, context);
  }
};

// The refusals the rules call for on these start states (no blacklist, no busy module, module
// operations allowed): the other stack built in (rules 3 and 4), or a missing core module.
bool both_stacks_in(const StartState& start) {
  bool native = false;
  bool klips = false;
  for (std::size_t i = 0; i < kMembers.size(); ++i) {
    const bool in = start.modules[i] == Start::live || start.modules[i] == Start::builtin;
    (kMembers[i].stack == Stack::native ? native : klips) |= in;
  }
  return native && klips;
}

// True when a rollback after `fault` at step `index` must reload a stack module over the other
// stack: the start had both stacks in, and the run had unloaded one of the catalog's modules.
bool reload_unsafe(const StartState& start, const modules::Plan& plan, std::size_t index, Fault fault) {
  if (!both_stacks_in(start)) return false;
  const auto catalog_remove = [](const modules::Step& step) {
    return step.kind == StepKind::remove && step.need == Need::required;
  };
  for (std::size_t i = 0; i < index; ++i) {
    if (catalog_remove(plan.steps[i])) return true;
  }
  return fault == Fault::remove_late_going && catalog_remove(plan.steps[index]);
}

bool refusal_expected(const StartState& start, Stack target) {
  for (std::size_t i = 0; i < kMembers.size(); ++i) {
    const Member& member = kMembers[i];
    if (member.stack != target && start.modules[i] == Start::builtin) return true;
    if (member.stack == target && member.role == detect::ModuleRole::core &&
        start.modules[i] == Start::absent) {
      return true;
    }
  }
  return false;
}

std::string step_text(const modules::Step& step) {
  return std::string(modules::to_string(step.kind)) + (step.module.empty() ? "" : " " + step.module);
}

struct Tally {
  long cases = 0;
  long refusals = 0;
  std::map<Outcome, long> outcomes;
};

// Checks one run against the invariant; returns "" or what was wrong.
std::string check_run(const StartState& start, Stack target, const Case& run,
                      const modules::ExecutionReport& report, const std::set<std::string>& start_loaded,
                      Outcome expected) {
  std::ostringstream wrong;
  if (run.kernel.crashed()) wrong << run.kernel.crash_reason() << "; ";
  if (report.outcome != expected) {
    wrong << "outcome " << modules::to_string(report.outcome) << ", expected " << modules::to_string(expected)
          << "; ";
  }
  const std::set<std::string> end = run.kernel.loaded_names();
  std::set<std::string> gained, lost;
  for (const std::string& name : end) {
    if (!start_loaded.contains(name)) gained.insert(name);
  }
  for (const std::string& name : start_loaded) {
    if (!end.contains(name)) lost.insert(name);
  }
  if (report.loaded != gained) wrong << "report.loaded disagrees with the kernel; ";
  if (report.unloaded != lost) wrong << "report.unloaded disagrees with the kernel; ";

  switch (report.outcome) {
    case Outcome::done: {
      for (std::size_t i = 0; i < kMembers.size(); ++i) {
        const Member& member = kMembers[i];
        const bool present = run.kernel.is_loaded(member.name) || start.modules[i] == Start::builtin;
        const bool wanted = member.stack == target && start.modules[i] != Start::absent;
        if (present != wanted) wrong << member.name << (present ? " present" : " missing") << " after done; ";
      }
      if (run.guard.is_set() != (target == Stack::klips)) wrong << "guard wrong after done; ";
      break;
    }
    case Outcome::already_there:
    case Outcome::refused:
    case Outcome::rolled_back:
      if (end != start_loaded) wrong << "not back in the start state; ";
      if (run.guard.is_set() != start.guard) wrong << "guard not restored; ";
      break;
    case Outcome::rollback_failed: {
      bool reported = !report.notes.empty();
      for (const auto& record : report.records) {
        reported = reported || (record.phase == modules::Phase::rollback && !record.succeeded());
      }
      if (!reported) wrong << "rollback_failed without a failed rollback step or note; ";
      break;
    }
  }
  return wrong.str();
}

TEST(ExhaustiveSwitch, NeverUnsafeAlwaysStartOrTarget) {
  Tally tally;
  long failures = 0;
  const std::size_t states = 1U << (2 * kMembers.size());
  for (std::size_t code = 0; code < states; ++code) {
    for (const bool guard : {false, true}) {
      for (const bool with_record : {false, true}) {
        StartState start;
        for (std::size_t i = 0; i < kMembers.size(); ++i) start.modules[i] = kStarts[(code >> (2 * i)) & 3U];
        start.guard = guard;
        start.with_record = with_record;
        for (const Stack target : {Stack::native, Stack::klips}) {
          const Case probe(start);
          const auto planned = modules::plan_switch(probe.snapshot(), target, probe.policy);
          const bool refused = std::holds_alternative<modules::Refusal>(planned);
          if (refused != refusal_expected(start, target)) {
            ++failures;
            ADD_FAILURE() << start.describe() << " -> " << detect::to_string(target) << ": "
                          << (refused ? "refused: " + std::get<modules::Refusal>(planned).message
                                      : std::string("planned, but a refusal was expected"));
          }
          ++tally.cases;
          if (refused) {
            ++tally.refusals;
            continue;
          }
          const modules::Plan& plan = std::get<modules::Plan>(planned);
          // (step index, fault): no fault first, then every fault at every step.
          std::vector<std::pair<std::size_t, Fault>> injections{{0, Fault::none}};
          for (std::size_t i = 0; i < plan.steps.size(); ++i) {
            for (const Fault fault : faults_for(plan.steps[i].kind)) injections.emplace_back(i, fault);
          }
          for (const auto& [index, fault] : injections) {
            Case run(start);
            const std::set<std::string> start_loaded = run.kernel.loaded_names();
            Outcome expected = plan.already_there() ? Outcome::already_there : Outcome::done;
            if (fault != Fault::none) {
              run.inject(fault, plan.steps[index]);
              expected =
                  expected_outcome(fault, plan.steps[index].need, reload_unsafe(start, plan, index, fault));
            }
            const modules::ExecutionReport report = run.execute(plan);
            ++tally.cases;
            ++tally.outcomes[report.outcome];
            const std::string wrong = check_run(start, target, run, report, start_loaded, expected);
            if (!wrong.empty()) {
              ++failures;
              if (failures <= 20) {
                std::string steps;
                for (const auto& step : plan.steps) steps += step_text(step) + ", ";
                ADD_FAILURE() << start.describe() << " -> " << detect::to_string(target) << " fault "
                              << to_text(fault) << " at step " << index << " [" << steps << "]: " << wrong;
              }
            }
          }
        }
      }
    }
  }
  std::cout << "exhaustive switch: " << tally.cases << " cases (" << states
            << " module states x guard x record x 2 "
            << "targets; " << tally.refusals << " refused at planning; runs: ";
  for (const auto& [outcome, count] : tally.outcomes)
    std::cout << modules::to_string(outcome) << "=" << count << " ";
  std::cout << "), " << failures << " failed\n";
  EXPECT_EQ(failures, 0);
  // Every outcome happens somewhere, so none of the checks above is vacuous.
  for (const Outcome outcome :
       {Outcome::done, Outcome::already_there, Outcome::rolled_back, Outcome::rollback_failed}) {
    EXPECT_GT(tally.outcomes[outcome], 0) << modules::to_string(outcome);
  }
}

}  // namespace
