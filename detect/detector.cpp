#include "detect/detector.hpp"

#include "detect/guard.hpp"
#include "detect/markers.hpp"
#include "detect/module_state.hpp"
#include "detect/subsystem.hpp"
#include "detect/verdict.hpp"

namespace detect {

Snapshot detect_host(const DetectInputs& inputs) {
  Snapshot snapshot;
  snapshot.subsystem = read_subsystem(inputs.root);
  snapshot.markers = read_markers(inputs.root, inputs.net);
  const std::set<std::string> guarded = read_guarded_modules(inputs.root);
  const LoadedView view = read_loaded_view(inputs.modules, inputs.root, snapshot.subsystem);
  if (view.source != LoadedView::Source::proc_modules && !view.problem.empty() &&
      snapshot.subsystem.supported != Fact::no) {
    snapshot.subsystem.notes.push_back(
        "cannot use /proc/modules: " + view.problem +
        (view.source == LoadedView::Source::sysfs ? " (read /sys/module instead)" : ""));
  }

  for (const ModuleSpec& spec : inputs.catalog.all()) {
    const Result<ModuleLookup> lookup = inputs.modules.lookup(spec.name);
    snapshot.modules.push_back(
        module_status(spec, view, lookup, snapshot.subsystem, snapshot.markers, guarded, inputs.root));
  }

  snapshot.native = judge_stack(Stack::native, snapshot.modules, snapshot.subsystem, snapshot.markers);
  snapshot.klips = judge_stack(Stack::klips, snapshot.modules, snapshot.subsystem, snapshot.markers);
  OverallJudgement overall =
      judge_overall(snapshot.native, snapshot.klips, snapshot.modules, snapshot.markers);
  snapshot.overall = overall.overall;
  snapshot.reasons = std::move(overall.reasons);
  return snapshot;
}

}  // namespace detect
