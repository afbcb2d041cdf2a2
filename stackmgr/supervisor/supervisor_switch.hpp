#pragma once
// The running supervisor's side of an admin's switch: the control clients waiting
// on it, its journal (written before each stage, removed at the end) and the recorded choice.
// The decisions are the core's (SwitchRequested, SwitchProgress in supervisor_core.hpp).

#include <optional>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "detect/stack.hpp"
#include "stackmgr/config/config.hpp"
#include "stackmgr/control/server.hpp"
#include "stackmgr/supervisor/core.hpp"
#include "stackmgr/switch/journal.hpp"

namespace stackmgr::supervisor {

class SupervisorSwitch {
 public:
  explicit SupervisorSwitch(config::PathsConfig paths) : paths_(std::move(paths)) {}

  // True while a switch runs (from begin() until its terminal stage).
  [[nodiscard]] bool in_flight() const { return journal_.has_value(); }
  // Clients that receive the progress lines and the final result.
  [[nodiscard]] const std::vector<control::ControlServer::ConnectionId>& clients() const { return clients_; }

  // A client asks to switch from `from` to `to`: journals the intent before anything is done.
  // An error (the journal cannot be written) means: do not start the switch.
  detect::Status begin(control::ControlServer::ConnectionId client, std::optional<detect::Stack> from,
                       detect::Stack to, const std::string& daemon_name);

  // Journals `progress` (and records the choice when done). Terminal stages return the result
  // line for every client, which are then forgotten. `warnings` collects what could not be saved.
  std::optional<std::string> on_progress(const SwitchProgress& progress, std::vector<std::string>& warnings);

  // The reply to a dry run or a refusal that never reached the core.
  static std::string reply(int exit_code, const std::string& message,
                           const SwitchProgress* progress = nullptr);

 private:
  void save(std::vector<std::string>& warnings);

  config::PathsConfig paths_;
  std::optional<switching::SwitchJournal> journal_;
  std::vector<control::ControlServer::ConnectionId> clients_;
};

}  // namespace stackmgr::supervisor
