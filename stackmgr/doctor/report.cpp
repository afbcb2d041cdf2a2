#include "stackmgr/doctor/report.hpp"

#include <sstream>

#include "detect/snapshot_json.hpp"

namespace stackmgr::doctor {
namespace {

// Word-wraps each line of `text` to `width` columns, every output line starting with `indent`.
std::string wrap(std::string_view text, std::string_view indent, std::size_t width) {
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    std::string current(indent);
    bool empty = true;
    std::istringstream words{std::string(line)};
    const bool preformatted = !line.empty() && line.front() == '\t';  // a conn block to copy
    if (preformatted) {
      current += "    " + std::string(line.substr(1));
      empty = false;
    } else {
      for (std::string word; words >> word;) {
        if (!empty && current.size() + 1 + word.size() > width) {
          out += current + "\n";
          current = std::string(indent);
          empty = true;
        }
        current += (empty ? "" : " ") + word;
        empty = false;
      }
    }
    out += (empty ? std::string(indent).substr(0, indent.find_last_not_of(' ') + 1) : current) + "\n";
    if (end == text.size()) break;
    start = end + 1;
  }
  return out;
}

nlohmann::json problems_json(const std::vector<detect::ConfProblem>& problems) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& problem : problems) {
    list.push_back(
        {{"file", problem.where.file}, {"line", problem.where.line}, {"message", problem.message}});
  }
  return list;
}

std::string_view parser_ipv6_name(ParserIpv6 value) {
  switch (value) {
    case ParserIpv6::supported: return "supported";
    case ParserIpv6::unsupported: return "unsupported";
    case ParserIpv6::unknown: return "unknown";
  }
  return "unknown";
}

nlohmann::json source_json(const TextSource& source, std::string_view kind) {
  return {
      {"kind", kind}, {"name", source.name}, {"status", to_string(source.status)}, {"detail", source.detail}};
}

}  // namespace

std::string render_doctor_table(const DoctorReport& report, std::size_t width) {
  std::string out = "stackmgr doctor: stack " + std::string(detect::to_string(report.stack.stack)) + " (" +
                    report.stack.source + "); opportunistic encryption " +
                    (report.oe.on          ? "on"
                     : report.oe.responder ? "responder only"
                                           : "off") +
                    "\n\n";
  std::size_t counts[3] = {0, 0, 0};
  constexpr std::string_view kIndent = "      ";
  for (const CheckResult& check : report.checks) {
    ++counts[static_cast<int>(check.level)];
    std::string level(to_string(check.level));
    level.resize(6, ' ');
    out += level + check.title + "  [" + check.id + "]\n";
    out += wrap(check.reason, kIndent, width);
    if (!check.fix.empty()) out += wrap("fix: " + check.fix, kIndent, width);
    out += "\n";
  }
  out += "Summary: " + std::to_string(counts[0]) + " OK, " + std::to_string(counts[1]) + " WARN, " +
         std::to_string(counts[2]) + " FAIL\n";
  return out;
}

nlohmann::json doctor_to_json(const DoctorReport& report, const DoctorInputs& inputs) {
  nlohmann::json checks = nlohmann::json::array();
  for (const CheckResult& check : report.checks) {
    checks.push_back({{"id", check.id},
                      {"level", to_string(check.level)},
                      {"title", check.title},
                      {"reason", check.reason},
                      {"fix", check.fix}});
  }
  nlohmann::json nameservers = nlohmann::json::array();
  for (const auto& server : inputs.resolv.nameservers) {
    nameservers.push_back(
        {{"address", server.address.to_string()}, {"file", server.where.file}, {"line", server.where.line}});
  }
  nlohmann::json groups = nlohmann::json::object();
  for (const auto& group : inputs.policies.groups) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& entry : group.entries) entries.push_back(entry.subnet.to_string());
    for (const auto& name : group.names) entries.push_back(name.value);
    groups[group.name] = {{"path", group.path}, {"found", group.found}, {"entries", entries}};
  }
  nlohmann::json sources = nlohmann::json::array();
  for (const auto& source : inputs.firewall) sources.push_back(source_json(source, "firewall"));
  for (const auto& source : inputs.updown_scripts) sources.push_back(source_json(source, "updown"));
  const DaemonTraits& traits = inputs.daemon_traits;
  return {
      {"schema", kDoctorSchema},
      {"stack", {{"name", detect::to_string(report.stack.stack)}, {"source", report.stack.source}}},
      {"oe", {{"on", report.oe.on}, {"responder", report.oe.responder}, {"reasons", report.oe.reasons}}},
      {"worst", to_string(report.worst())},
      {"exit_code", report.exit_code()},
      {"checks", checks},
      {"inputs",
       {{"ipsec_conf",
         {{"path", inputs.ipsec_conf.path},
          {"found", inputs.ipsec_conf.found},
          {"files", inputs.ipsec_conf.files},
          {"conns", inputs.ipsec_conf.conns.size()},
          {"problems", problems_json(inputs.ipsec_conf.problems)}}},
        {"resolv_conf",
         {{"path", inputs.resolv.path},
          {"found", inputs.resolv.found},
          {"nameservers", nameservers},
          {"problems", problems_json(inputs.resolv.problems)}}},
        {"policy_groups",
         {{"directory", inputs.policies.directory},
          {"groups", groups},
          {"problems", problems_json(inputs.policies.problems)}}},
        {"daemon",
         {{"state", to_string(inputs.daemon.state)},
          {"detail", inputs.daemon.detail},
          {"product", traits.product},
          {"version", traits.version},
          {"parser_ipv6", parser_ipv6_name(traits.parser_ipv6)},
          {"identified_from", traits.source}}},
        {"sources", sources}}},
      {"detect", detect::snapshot_to_json(inputs.snapshot)},
  };
}

}  // namespace stackmgr::doctor
