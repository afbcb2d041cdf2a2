#pragma once
// `stackmgr doctor`: the seed's known issues as checks. run_doctor() is pure: every host fact
// arrives in DoctorInputs (model.hpp; gathered by inputs.hpp), so tests construct them directly.
// Each check, its rule and its JSON form: docs/doctor.md.

#include "detect/ipsec_conf.hpp"
#include "detect/policy_groups.hpp"
#include "stackmgr/doctor/model.hpp"

namespace stackmgr::doctor {

// The stack the checks reason about, and why: the active one, else the chosen one, else
// ipsec.conf's protostack=, else the default.
TargetStack target_stack(const DoctorInputs& inputs);

// Whether this host initiates opportunistic encryption, and why (rule: docs/doctor.md).
// Only an initiator traps outgoing packets, which is what the seed's OE pitfalls are about.
OeState find_oe(const detect::IpsecConf& conf, const detect::PolicyGroups& policies,
                const DaemonTraits& daemon);

// Runs every check on `inputs`. Pure: reads nothing, never throws for odd inputs.
DoctorReport run_doctor(const DoctorInputs& inputs);

}  // namespace stackmgr::doctor
