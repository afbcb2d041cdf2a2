#pragma once
// The readable form of a detect::Snapshot: what `stackmgr detect` prints without --json.

#include <string>

#include "detect/snapshot.hpp"

namespace stackmgr::cli {

// A plain-text report: overall state and reasons, each stack's verdict and reasons, the module
// subsystem, one table row per catalog module (notes under it), and the markers. No colour;
// lines fit 100 columns except long reasons.
std::string render_snapshot(const detect::Snapshot& snapshot);

}  // namespace stackmgr::cli
