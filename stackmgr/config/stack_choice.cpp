#include "stackmgr/config/stack_choice.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>

#include "detect/ipsec_conf.hpp"

namespace stackmgr::config {
namespace {

using detect::Stack;

std::string name(Stack stack) { return std::string(detect::to_string(stack)); }

std::string config_file(const ChoiceInputs& inputs) {
  return inputs.config_path.empty() ? kDefaultConfigFile : inputs.config_path.string();
}

std::string state_file(const ChoiceInputs& inputs) {
  return inputs.state_file_path.empty() ? "the state file" : inputs.state_file_path.string();
}

std::string protostack_text(const ChoiceInputs& inputs) {
  return "protostack=" + inputs.protostack.value.value_or("") + " in " + inputs.protostack.where;
}

std::string config_text(const ChoiceInputs& inputs) {
  return "stack = \"" + name(*inputs.config) + "\" in " + config_file(inputs);
}

// Lower-precedence sources that name a stack other than `chosen`, below `source`.
std::string overrides(const ChoiceInputs& inputs, ChoiceSource source, Stack chosen) {
  std::vector<std::string> parts;
  const auto below = [source](ChoiceSource other) {
    return static_cast<int>(other) > static_cast<int>(source);
  };
  if (below(ChoiceSource::state_file) && inputs.state_file && *inputs.state_file != chosen) {
    parts.push_back("the last switch to " + name(*inputs.state_file) + " (" + state_file(inputs) + ")");
  }
  if (below(ChoiceSource::config) && inputs.config && *inputs.config != chosen)
    parts.push_back(config_text(inputs));
  const ProtostackReading protostack = interpret_protostack(inputs.protostack);
  if (below(ChoiceSource::ipsec_conf) && protostack.stack && *protostack.stack != chosen) {
    parts.push_back(protostack_text(inputs));
  }
  if (parts.empty()) return {};
  std::string text = "; overrides ";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) text += i + 1 == parts.size() ? " and " : ", ";
    text += parts[i];
  }
  return text;
}

std::string how_to_name_one(const ChoiceInputs& inputs) {
  return "name a stack: on the command line, with 'stackmgr switch native|klips', or as stack = \"...\" in " +
         config_file(inputs);
}

StackChoice decided(const ChoiceInputs& inputs, Stack stack, ChoiceSource source, const std::string& from) {
  StackChoice choice;
  choice.stack = stack;
  choice.source = source;
  choice.explanation = name(stack) + " (" + from + overrides(inputs, source, stack) + ")";
  return choice;
}

StackChoice refused(ChoiceSource source, std::string why) {
  StackChoice choice;
  choice.source = source;
  choice.explanation = "refusing to guess the stack: " + std::move(why);
  return choice;
}

StackChoice automatic(const ChoiceInputs& inputs, bool protostack_auto) {
  const std::string why_auto = protostack_auto ? "auto, from " + protostack_text(inputs)
                                               : "auto: no stack named on the command line, by a switch, in "
                                                 "stackmgr.toml or in ipsec.conf";
  switch (inputs.overall) {
    case detect::Overall::native:
    case detect::Overall::klips: {
      const Stack active = inputs.overall == detect::Overall::native ? Stack::native : Stack::klips;
      return decided(inputs, active, ChoiceSource::automatic,
                     why_auto + "; keeps the stack already in the kernel");
    }
    case detect::Overall::none: {
      const std::string where = inputs.config_path.empty() ? "the built-in default_stack"
                                                           : "default_stack in " + config_file(inputs);
      return decided(inputs, inputs.default_stack, ChoiceSource::automatic,
                     why_auto + "; no stack is in the kernel, so " + where);
    }
    case detect::Overall::conflict:
      return refused(ChoiceSource::automatic, "both stacks are in the kernel and the choice is auto (" +
                                                  why_auto + "); " + how_to_name_one(inputs));
    case detect::Overall::broken:
      return refused(
          ChoiceSource::automatic,
          "the kernel's IPsec markers disagree with the module states (see 'stackmgr detect') and the "
          "choice is auto; " +
              how_to_name_one(inputs));
  }
  return refused(ChoiceSource::automatic, "unknown kernel state; " + how_to_name_one(inputs));
}

}  // namespace

ProtostackReading interpret_protostack(const ProtostackSetting& setting) {
  if (!setting.value) return {};
  std::string lower = *setting.value;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "auto") return {ProtostackMeaning::automatic, std::nullopt};
  if (lower == "mast") return {ProtostackMeaning::stack, Stack::klips};
  if (const auto stack = detect::parse_stack(lower)) return {ProtostackMeaning::stack, stack};
  return {ProtostackMeaning::invalid, std::nullopt};
}

ProtostackSetting protostack_from(const detect::IpsecConf& conf) {
  if (!conf.found) return {};
  const detect::ConfValue* value = conf.setup_value("protostack");
  if (value == nullptr) return {};
  return ProtostackSetting{value->value, value->where.describe()};
}

ChoiceInputs choice_inputs(const Config& config, const detect::Snapshot& snapshot) {
  ChoiceInputs inputs;
  inputs.state_file_path = config.paths.chosen_stack_file();
  inputs.config = config.stack;
  inputs.config_path = config.source;
  inputs.overall = snapshot.overall;
  inputs.default_stack = config.default_stack;
  return inputs;
}

StackChoice choose_stack(const ChoiceInputs& inputs) {
  const ProtostackReading protostack = interpret_protostack(inputs.protostack);
  StackChoice choice;
  if (inputs.command_line) {
    choice = decided(inputs, *inputs.command_line, ChoiceSource::command_line, "from the command line");
  } else if (inputs.state_file) {
    choice = decided(inputs, *inputs.state_file, ChoiceSource::state_file,
                     "from the last switch, " + state_file(inputs));
  } else if (inputs.config) {
    choice = decided(inputs, *inputs.config, ChoiceSource::config, "from " + config_text(inputs));
  } else if (protostack.meaning == ProtostackMeaning::stack) {
    return decided(inputs, *protostack.stack, ChoiceSource::ipsec_conf, "from " + protostack_text(inputs));
  } else if (protostack.meaning == ProtostackMeaning::invalid) {
    return refused(
        ChoiceSource::ipsec_conf,
        protostack_text(inputs) +
            " is not a stack stackmgr knows (netkey, xfrm, native, klips, mast or auto); correct it, or " +
            how_to_name_one(inputs));
  } else {
    return automatic(inputs, protostack.meaning == ProtostackMeaning::automatic);
  }
  if (protostack.meaning == ProtostackMeaning::invalid) {
    choice.warnings.push_back(
        "ignoring " + protostack_text(inputs) +
        ": not a stack name (netkey, xfrm, native, klips, mast or auto); the stack comes from " +
        std::string(to_string(choice.source)) + " anyway, but the keying daemon may reject it");
  }
  return choice;
}

std::vector<std::string> switch_disagreements(Stack target, const ChoiceInputs& inputs) {
  std::vector<std::string> notes;
  const std::string outranks = "; the switch to " + name(target) + " is recorded in " + state_file(inputs) +
                               ", which outranks it, so " + name(target) + " stays after a reboot";
  if (inputs.config && *inputs.config != target) {
    notes.push_back(config_text(inputs) + " names the other stack" + outranks +
                    ". To make the config agree, set stack = \"" + name(target) +
                    "\" there; to go back, run 'stackmgr switch " + name(*inputs.config) + "'");
  }
  const ProtostackReading protostack = interpret_protostack(inputs.protostack);
  if (protostack.stack && *protostack.stack != target) {
    notes.push_back(protostack_text(inputs) + " names the other stack" + outranks +
                    ". Keying daemons that read protostack= may disagree; set protostack=" +
                    (target == Stack::native ? "netkey" : "klips") + " there");
  }
  return notes;
}

detect::Result<ProtostackSetting> read_protostack(const std::filesystem::path& ipsec_conf, uid_t owner) {
  detect::Result<std::string> text = os::read_trusted_file(ipsec_conf, owner);
  if (!text) {
    struct stat info {};
    const bool nothing_there = lstat(ipsec_conf.c_str(), &info) != 0 && errno == ENOENT;
    if (text.error().code == ENOENT && nothing_there) return ProtostackSetting{};
    return text.error();
  }
  const detect::IpsecConf conf = detect::parse_ipsec_conf(*text, ipsec_conf.string(), detect::HostRoot("/"));
  for (std::size_t i = 1; i < conf.files.size(); ++i) {
    if (const detect::Status trusted = os::check_trusted(conf.files[i], os::TrustedKind::file, owner);
        !trusted) {
      return detect::Error{trusted.error().code,
                           trusted.error().message + " (included from " + ipsec_conf.string() + ")"};
    }
  }
  return protostack_from(conf);
}

}  // namespace stackmgr::config
