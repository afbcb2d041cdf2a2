#pragma once
// Which stack stackmgr makes ready, and why. Pure: the callers read the inputs (command line,
// state file, stackmgr.toml, ipsec.conf, the Snapshot) and log the explanation.
// Precedence: command line > last switch (state file) > stackmgr config > ipsec.conf
// protostack= > auto. Rationale and examples: docs/config.md ("Which stack").

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "detect/error.hpp"
#include "detect/snapshot.hpp"
#include "detect/stack.hpp"
#include "stackmgr/config/config.hpp"
#include "stackmgr/os/file_trust.hpp"

namespace detect {
struct IpsecConf;
}

namespace stackmgr::config {

// protostack= in ipsec.conf's `config setup`, as written.
struct ProtostackSetting {
  std::optional<std::string> value;  // nullopt: no ipsec.conf, or no protostack= in it
  std::string where;                 // "/etc/ipsec.conf:3"; empty when value is nullopt
};

// What protostack= means: netkey, xfrm and native name the native stack; klips and mast
// (Openswan's KLIPS variant) name KLIPS; auto defers; anything else is invalid.
enum class ProtostackMeaning { unset, automatic, stack, invalid };
struct ProtostackReading {
  ProtostackMeaning meaning = ProtostackMeaning::unset;
  std::optional<detect::Stack> stack;  // set when meaning == stack
};
ProtostackReading interpret_protostack(const ProtostackSetting& setting);

// protostack= of `config setup` in a parsed ipsec.conf (unset when the file was not found).
ProtostackSetting protostack_from(const detect::IpsecConf& conf);

struct ChoiceInputs {
  std::optional<detect::Stack> command_line;            // a stack named on the command line
  std::optional<detect::Stack> state_file;              // the last successful switch (read_chosen_stack)
  std::filesystem::path state_file_path;                // for messages
  std::optional<detect::Stack> config;                  // Config::stack (nullopt = auto)
  std::filesystem::path config_path;                    // Config::source; empty when built-in defaults
  ProtostackSetting protostack;                         // read_protostack
  detect::Overall overall = detect::Overall::none;      // Snapshot::overall
  detect::Stack default_stack = detect::Stack::native;  // Config::default_stack
};

// Fills the config and snapshot parts of the inputs (config, default_stack, state file path,
// overall); the caller adds the command line, the state file's stack and protostack.
ChoiceInputs choice_inputs(const Config& config, const detect::Snapshot& snapshot);

struct StackChoice {
  // nullopt: stackmgr refuses to guess (auto on a conflict or broken kernel, or an invalid
  // protostack= deciding); `explanation` says why and what to do. Exit::refused.
  std::optional<detect::Stack> stack;
  ChoiceSource source = ChoiceSource::automatic;
  // "klips (from the last switch, /var/lib/stackmgr/stack; overrides protostack=netkey in
  // /etc/ipsec.conf:3)"
  std::string explanation;
  std::vector<std::string> warnings;  // e.g. an invalid protostack= outranked by a higher source
};

// Applies the precedence. auto keeps the stack whose code is in the kernel (native or klips,
// partly loaded included); with neither it takes default_stack; on a conflict or a broken
// kernel it refuses to guess.
StackChoice choose_stack(const ChoiceInputs& inputs);

// What a successful switch to `target` should tell the admin: each lower-precedence source
// (stackmgr config, ipsec.conf) that names the other stack, and that the switch outranks it
// from now on. Empty when nothing disagrees.
std::vector<std::string> switch_disagreements(detect::Stack target, const ChoiceInputs& inputs);

// protostack= from `config setup` of `ipsec_conf` (Config::paths.ipsec_conf), read with the
// project's ipsec.conf parser. Refuses ipsec.conf, and each file it includes, unless trusted
// (pluto runs as root and executes updown scripts named there). A missing file is no setting.
// An Error means Exit::config.
detect::Result<ProtostackSetting> read_protostack(const std::filesystem::path& ipsec_conf,
                                                  uid_t owner = os::kRootUid);

}  // namespace stackmgr::config
