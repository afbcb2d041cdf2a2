#pragma once
// The clock types the supervisor and the event loop share: a monotonic time point and a
// duration in milliseconds.

#include <chrono>

namespace stackmgr::base {

using SteadyTime = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;

}  // namespace stackmgr::base
