// Helpers the doctor's checks share: how conns are named and which addresses a side covers.
#include <algorithm>
#include <cctype>

#include "stackmgr/doctor/checks.hpp"

namespace stackmgr::doctor {

std::string describe_conn(const detect::ConfSection& conn) {
  return "conn " + conn.name + " (" + conn.where.describe() + ")";
}

std::optional<detect::IpSubnet> conn_side_subnet(const detect::ConfSection& conn, std::string_view side) {
  const std::string key(side);
  if (const detect::ConfValue* subnet = conn.find(key + "subnet"))
    return detect::IpSubnet::parse(subnet->value);
  if (const detect::ConfValue* host = conn.find(key)) {
    if (const auto address = detect::IpAddress::parse(host->value)) return detect::IpSubnet::host(*address);
  }
  return std::nullopt;
}

bool conn_is_routed(const detect::ConfSection& conn) {
  std::string value(conn.get("auto", "ignore"));
  std::transform(value.begin(), value.end(), value.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return value == "route" || value == "ondemand" || value == "start";
}

std::string join_list(const std::vector<std::string>& items, std::size_t limit) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < limit; ++i) {
    if (i > 0) out += ", ";
    out += items[i];
  }
  if (items.size() > limit) out += " and " + std::to_string(items.size() - limit) + " more";
  return out;
}

}  // namespace stackmgr::doctor
