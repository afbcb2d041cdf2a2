#pragma once
// Test-only pause points, for the power-cut test (tests/vm/power-cut.sh): the program stops at a
// named point of a durable write or of a switch, tells the host, and waits there until the host
// cuts the power. They exist only in stackmgr-pause-points, a test binary built when CMake's
// STACKMGR_TEST_PAUSE_POINTS is on; everywhere else (the stackmgr binary, the .deb) the macro
// expands to nothing, so no code, name or environment variable of theirs is in the program
// (tests/pause_points/check-binaries.sh checks both binaries).

#ifdef STACKMGR_TEST_PAUSE_POINTS

#include <string_view>

namespace stackmgr::base {

// Counts the hits of `name` in this process; the n-th is "NAME#n". When $STACKMGR_PAUSE_TRACE
// names a file, appends "NAME#n DETAIL" to it. When $STACKMGR_PAUSE_AT is exactly "NAME#n",
// appends "# PAUSED NAME#n DETAIL" to $STACKMGR_PAUSE_REPORT (default: standard error) and
// blocks until a signal kills the process; it never returns then.
void pause_point(std::string_view name, std::string_view detail);

}  // namespace stackmgr::base

#define STACKMGR_PAUSE_POINT(name, detail) ::stackmgr::base::pause_point((name), (detail))

#else

// Nothing: neither argument is evaluated.
#define STACKMGR_PAUSE_POINT(name, detail) static_cast<void>(0)

#endif
