#include "stackmgr/doctor/doctor.hpp"

#include <algorithm>

#include "stackmgr/base/exit_codes.hpp"
#include "stackmgr/doctor/checks.hpp"

namespace stackmgr::doctor {

std::string_view to_string(Level level) {
  switch (level) {
    case Level::ok: return "OK";
    case Level::warn: return "WARN";
    case Level::fail: return "FAIL";
  }
  return "FAIL";
}

std::string_view to_string(DaemonState state) {
  switch (state) {
    case DaemonState::running: return "running";
    case DaemonState::not_running: return "not running";
    case DaemonState::unknown: return "unknown";
  }
  return "unknown";
}

std::string_view to_string(SourceStatus status) {
  switch (status) {
    case SourceStatus::read: return "read";
    case SourceStatus::absent: return "absent";
    case SourceStatus::skipped: return "skipped";
    case SourceStatus::failed: return "failed";
  }
  return "failed";
}

TargetStack target_stack(const DoctorInputs& inputs) {
  if (const auto active = inputs.snapshot.active_stack()) return {*active, "active in the kernel", true};
  if (inputs.chosen_stack) {
    return {*inputs.chosen_stack,
            inputs.chosen_source.empty() ? "chosen in stackmgr's config" : inputs.chosen_source};
  }
  if (const detect::ConfValue* protostack = inputs.ipsec_conf.setup_value("protostack")) {
    // Openswan's "mast" is a KLIPS variant.
    const auto stack =
        protostack->value == "mast" ? detect::Stack::klips : detect::parse_stack(protostack->value);
    if (stack) {
      return {*stack, "protostack=" + protostack->value + " at " + protostack->where.describe()};
    }
  }
  return {inputs.default_stack, "stackmgr's default: no stack is active or chosen"};
}

Level DoctorReport::worst() const {
  Level worst = Level::ok;
  for (const CheckResult& check : checks) worst = std::max(worst, check.level);
  return worst;
}

int DoctorReport::exit_code() const {
  if (conflict) return code(base::Exit::conflict);
  switch (worst()) {
    case Level::ok: return code(base::Exit::ok);
    case Level::warn: return code(base::Exit::warnings);
    case Level::fail: return code(base::Exit::failures);
  }
  return code(base::Exit::failures);
}

const CheckResult* DoctorReport::find(std::string_view id) const {
  const auto match =
      std::find_if(checks.begin(), checks.end(), [&](const CheckResult& c) { return c.id == id; });
  return match == checks.end() ? nullptr : &*match;
}

DoctorReport run_doctor(const DoctorInputs& inputs) {
  DoctorReport report;
  report.stack = target_stack(inputs);
  report.conflict = inputs.snapshot.overall == detect::Overall::conflict;
  report.oe = find_oe(inputs.ipsec_conf, inputs.policies, inputs.daemon_traits);
  report.checks.push_back(check_config_files(inputs));
  report.checks.push_back(check_ipcomp_native(inputs, report.stack));
  report.checks.push_back(check_oe_local_nameserver(inputs, report.oe));
  report.checks.push_back(check_oe_dns_clear(inputs, report.oe));
  report.checks.push_back(check_oe_asymmetric_routing(inputs, report.oe, report.stack));
  report.checks.push_back(check_ipv6_parser(inputs));
  report.checks.push_back(check_ipsec_interface_rules(inputs, report.stack));
  report.checks.push_back(check_both_builtin(inputs));
  report.checks.push_back(check_conflict(inputs));
  report.checks.push_back(check_stack_available(inputs, report.stack));
  report.checks.push_back(check_blacklist(inputs, report.stack));
  report.checks.push_back(check_modules_disabled(inputs, report.stack));
  report.checks.push_back(check_autoload_guard(inputs));
  report.checks.push_back(check_keying_daemon(inputs));
  return report;
}

}  // namespace stackmgr::doctor
