#pragma once
// FreeS/WAN 2.x ipsec.conf, read under a HostRoot: `version`, `config setup`, `conn`, `ca`,
// `include GLOB`, `also=`/`alsoflip=` and `%default`. Read-only and total: a malformed file
// never throws; each problem is collected with its file and line and parsing goes on.
// Syntax and expansion rules: docs/doctor.md ("Reading ipsec.conf").

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "detect/host.hpp"

namespace detect {

struct ConfLocation {
  std::string file;  // the host path as the admin knows it ("/etc/ipsec.conf"), not the root's
  int line = 0;      // 1-based; 0 when the point is not one line

  // "/etc/ipsec.conf:12" (or only the file when line is 0).
  [[nodiscard]] std::string describe() const;
  friend bool operator==(const ConfLocation&, const ConfLocation&) = default;
};

struct ConfProblem {
  ConfLocation where;
  std::string message;

  // "/etc/ipsec.conf:12: parameter outside any section".
  [[nodiscard]] std::string describe() const;
};

struct ConfValue {
  std::string value;   // unquoted
  ConfLocation where;  // where it was written; after expansion, the section it came from
};

enum class SectionType { config, conn, ca };
std::string_view to_string(SectionType type);

enum class AlsoKind { plain, flip };  // also= or alsoflip= (left and right swapped)

struct AlsoRef {
  ConfValue target;  // the named section
  AlsoKind kind = AlsoKind::plain;
};

struct ConfSection {
  SectionType type = SectionType::conn;
  std::string name;
  ConfLocation where;                                  // the header line
  std::map<std::string, ConfValue, std::less<>> keys;  // never holds also/alsoflip
  std::vector<AlsoRef> also;                           // as written; empty once expanded

  // The value of `key`, or nullptr.
  [[nodiscard]] const ConfValue* find(std::string_view key) const;
  // The value of `key`, or `fallback` when unset.
  [[nodiscard]] std::string_view get(std::string_view key, std::string_view fallback = {}) const;
};

struct IpsecConf {
  bool found = false;                 // the main file was read
  std::string path;                   // the main file's host path, read or not
  std::vector<std::string> files;     // every file read, main file first, in reading order
  std::string version;                // the `version` line's value ("2"), empty when absent
  std::vector<ConfSection> sections;  // as written, %default included; duplicates merged
  ConfSection setup;                  // `config setup`, expanded (no keys when absent)
  std::vector<ConfSection> conns;     // each conn except %default: own keys, then also=, then %default
  std::vector<ConfSection> cas;       // each ca, expanded the same way
  std::vector<ConfProblem> problems;

  // The expanded conn `name`, or nullptr.
  [[nodiscard]] const ConfSection* conn(std::string_view name) const;
  // A `config setup` value ("protostack"), or nullptr.
  [[nodiscard]] const ConfValue* setup_value(std::string_view key) const { return setup.find(key); }
};

struct ConfLimits {
  int max_include_depth = 8;              // nested include levels below the main file
  std::size_t max_files = 256;            // files read in total
  std::size_t max_file_bytes = 1u << 20;  // larger files are reported and skipped
  int max_also_depth = 32;                // nested also= levels
};

inline constexpr std::string_view kDefaultIpsecConf = "/etc/ipsec.conf";

// Reads `path` (a host path, absolute) under `root` and everything it includes. A missing main
// file gives found == false and no problem; any other read error is a problem.
IpsecConf read_ipsec_conf(const HostRoot& root, std::string_view path = kDefaultIpsecConf,
                          const ConfLimits& limits = {});

// Parses `text` as the file `name` (a host path). Includes resolve under `root`.
IpsecConf parse_ipsec_conf(std::string_view text, std::string_view name, const HostRoot& root,
                           const ConfLimits& limits = {});

}  // namespace detect
