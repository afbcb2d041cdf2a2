// Firewall rules keyed on KLIPS's ipsecN interfaces, which the native stack does not have.
#include <sstream>

#include "stackmgr/base/strings.hpp"
#include "stackmgr/doctor/checks.hpp"

namespace stackmgr::doctor {
namespace {

// "ipsec0", "ipsec12", "ipsec+" (iptables' wildcard) and, in scripts, "ipsec*".
bool is_klips_interface(std::string_view name, bool allow_glob) {
  if (name.rfind("ipsec", 0) != 0 || name.size() == 5) return false;
  std::string_view rest = name.substr(5);
  if (rest == "+" || (allow_glob && rest == "*")) return true;
  if (!rest.empty() && (rest.back() == '+' || (allow_glob && rest.back() == '*'))) rest.remove_suffix(1);
  for (const char c : rest) {
    if (c < '0' || c > '9') return false;
  }
  return !rest.empty();
}

template <typename Visit>
void for_each_line(const std::string& text, Visit visit) {
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  while (std::getline(lines, line)) visit(++number, base::trim(line));
}

std::string describe_reference(const InterfaceReference& ref) {
  return ref.source + (ref.line > 0 ? ":" + std::to_string(ref.line) : "") + ": " + ref.text;
}

}  // namespace

std::vector<InterfaceReference> find_interface_rules(const TextSource& rules) {
  std::vector<InterfaceReference> found;
  for_each_line(rules.text, [&](int number, std::string_view line) {
    if (line.empty() || line.front() == '#' || line.front() == '*' || line.front() == ':') return;
    std::istringstream words{std::string(line)};
    std::string previous;
    for (std::string word; words >> word; previous = word) {
      const bool interface_option = previous == "-i" || previous == "-o" || previous == "--in-interface" ||
                                    previous == "--out-interface";
      if (interface_option && is_klips_interface(word, false)) {
        found.push_back(InterfaceReference{rules.name, number, word, std::string(line)});
        return;
      }
    }
  });
  return found;
}

std::vector<InterfaceReference> find_interface_in_script(const TextSource& script) {
  std::vector<InterfaceReference> found;
  for_each_line(script.text, [&](int number, std::string_view line) {
    if (line.empty() || line.front() == '#') return;
    std::string word;
    auto check = [&] {
      if (is_klips_interface(word, true))
        found.push_back(InterfaceReference{script.name, number, word, std::string(line)});
      word.clear();
    };
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) break;  // a trailing comment
      const bool separator = c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '=' || c == ';' ||
                             c == '|' || c == '&' || c == '(' || c == ')' || c == ',' || c == '`';
      if (separator) {
        const std::size_t before = found.size();
        check();
        if (found.size() > before) return;  // one reference per line is enough
      } else {
        word += c;
      }
    }
    check();
  });
  return found;
}

CheckResult check_ipsec_interface_rules(const DoctorInputs& inputs, const TargetStack& target) {
  CheckResult result{"ipsec-interface-rules", Level::ok, "Firewall rules keyed on ipsecN (native stack)", "",
                     ""};
  if (target.stack != detect::Stack::native) {
    result.reason = "The stack is KLIPS (" + target.source + "), which provides the ipsecN interfaces.";
    return result;
  }
  const auto& interfaces = inputs.snapshot.markers.ipsec_interfaces;
  if (!interfaces.empty()) {
    result.reason = "ipsecN interfaces exist (" + join_list(interfaces) + "), so rules on them can match.";
    return result;
  }
  std::vector<InterfaceReference> references;
  std::vector<std::string> scanned;
  std::vector<std::string> not_scanned;
  auto scan = [&](const TextSource& source, bool script) {
    if (source.status != SourceStatus::read) {
      if (source.status != SourceStatus::absent || !script) {
        not_scanned.push_back(source.name + " (" + std::string(to_string(source.status)) + ": " +
                              source.detail + ")");
      }
      return;
    }
    scanned.push_back(source.name);
    auto found = script ? find_interface_in_script(source) : find_interface_rules(source);
    references.insert(references.end(), found.begin(), found.end());
  };
  for (const TextSource& source : inputs.firewall) scan(source, false);
  for (const TextSource& source : inputs.updown_scripts) scan(source, true);
  const std::string sources =
      "Scanned: " + (scanned.empty() ? std::string("nothing") : join_list(scanned)) +
      (not_scanned.empty() ? std::string() : "; not scanned: " + join_list(not_scanned)) + ".";
  if (references.empty()) {
    result.reason = "The stack is native and no rule names an ipsecN interface. " + sources;
    return result;
  }
  std::vector<std::string> lines;
  for (const InterfaceReference& ref : references) lines.push_back(describe_reference(ref));
  result.level = Level::warn;
  result.reason = "The stack is native (" + target.source +
                  "), which has no ipsecN interface, so these rules match nothing: " + join_list(lines, 6) +
                  ". Native IPsec packets pass the firewall on the external interface, both before and after "
                  "decryption. " +
                  sources;
  result.fix =
      "Match IPsec traffic by policy or address instead of by interface: in iptables use '-m policy --dir in "
      "--pol ipsec' (or --dir out), and put per-connection rules based on addresses (PLUTO_PEER, "
      "PLUTO_PEER_CLIENT) into the _updown script.";
  return result;
}

}  // namespace stackmgr::doctor
