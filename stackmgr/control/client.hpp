#pragma once
// Talking to a running supervisor over its control socket (protocol.hpp): status, stop and
// switch from the command line.

#include <chrono>
#include <filesystem>
#include <functional>
#include <variant>

#include "detect/error.hpp"
#include "stackmgr/control/protocol.hpp"

namespace stackmgr::control {

// Why a client could not talk to a supervisor.
enum class ControlFailure {
  not_running,  // no socket, or nobody listening (ENOENT, ECONNREFUSED)
  permission,   // EACCES/EPERM: not root
  protocol,     // garbage, or a timeout
  dropped,      // the supervisor closed the connection before the result (it stopped or died)
};
struct ControlClientError {
  ControlFailure failure = ControlFailure::protocol;
  detect::Error error;
};

// Connects to `path`, sends `request`, passes every progress line to `on_progress`, and
// returns the final result. `idle_timeout` bounds each wait for the next line.
std::variant<ControlReply, ControlClientError> call_supervisor(
    const std::filesystem::path& path, const ControlRequest& request,
    const std::function<void(const ControlReply&)>& on_progress, std::chrono::milliseconds idle_timeout);

}  // namespace stackmgr::control
