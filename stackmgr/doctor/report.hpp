#pragma once
// Showing a DoctorReport: the human table and the stable JSON schema "stackmgr.doctor/1"
// (docs/doctor.md). Both carry the same checks, levels, reasons and fixes.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "stackmgr/doctor/model.hpp"

namespace stackmgr::doctor {

inline constexpr std::string_view kDoctorSchema = "stackmgr.doctor/1";

// One block per check: level, id and title, then the reason and the fix, wrapped at `width`
// columns; a summary line last.
std::string render_doctor_table(const DoctorReport& report, std::size_t width = 100);

// The report with the inputs it was computed from (files read, daemon, scanned sources) and,
// under "detect", the snapshot in the stackmgr.detect/1 schema. Fields are only ever added
// within version 1.
nlohmann::json doctor_to_json(const DoctorReport& report, const DoctorInputs& inputs);

}  // namespace stackmgr::doctor
