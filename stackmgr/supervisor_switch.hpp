#pragma once
// The running supervisor's side of an admin's switch (issue 6): the control clients waiting
// on it, its journal (written before each stage, removed at the end) and the recorded choice.
// The decisions are the core's (SwitchRequested, SwitchProgress in supervisor_core.hpp).

#include <optional>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "detect/stack.hpp"
#include "stackmgr/config.hpp"
#include "stackmgr/control_socket.hpp"
#include "stackmgr/supervisor_core.hpp"
#include "stackmgr/switch_journal.hpp"

namespace stackmgr {

class SupervisorSwitch {
 public:
  explicit SupervisorSwitch(PathsConfig paths) : paths_(std::move(paths)) {}

  // True while a switch runs (from begin() until its terminal stage).
  [[nodiscard]] bool in_flight() const { return journal_.has_value(); }
  // Clients that receive the progress lines and the final result.
  [[nodiscard]] const std::vector<ControlServer::ConnectionId>& clients() const { return clients_; }

  // A client asks to switch from `from` to `to`: journals the intent before anything is done.
  // An error (the journal cannot be written) means: do not start the switch.
  detect::Status begin(ControlServer::ConnectionId client, std::optional<detect::Stack> from,
                       detect::Stack to, const std::string& daemon_name);

  // Journals `progress` (and records the choice when done). Terminal stages return the result
  // line for every client, which are then forgotten. `warnings` collects what could not be saved.
  std::optional<std::string> on_progress(const SwitchProgress& progress, std::vector<std::string>& warnings);

  // The reply to a dry run or a refusal that never reached the core.
  static std::string reply(int exit_code, const std::string& message,
                           const SwitchProgress* progress = nullptr);

 private:
  void save(std::vector<std::string>& warnings);

  PathsConfig paths_;
  std::optional<SwitchJournal> journal_;
  std::vector<ControlServer::ConnectionId> clients_;
};

}  // namespace stackmgr
