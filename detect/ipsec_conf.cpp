#include "detect/ipsec_conf.hpp"

#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <utility>

#include "stackmgr/base/strings.hpp"

namespace detect {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r'; }

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const std::size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

// Cuts a comment: `#` at the start of the line or after white space, outside double quotes.
std::string_view strip_comment(std::string_view line) {
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '"') quoted = !quoted;
    if (!quoted && line[i] == '#' && (i == 0 || is_space(line[i - 1]))) return line.substr(0, i);
  }
  return line;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Names of sections and parameters: a letter, then letters, digits, '.', '_' or '-'.
bool is_valid_name(std::string_view name) {
  if (name.empty() || !is_alpha(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return is_alpha(c) || is_digit(c) || c == '.' || c == '_' || c == '-'; });
}

std::string quote(std::string_view text) {
  constexpr std::size_t kMax = 60;
  std::string out = "'";
  out += text.size() > kMax ? std::string(text.substr(0, kMax)) + "..." : std::string(text);
  out += "'";
  return out;
}

bool has_wildcard(std::string_view pattern) { return pattern.find_first_of("*?[") != std::string_view::npos; }

// Escapes glob(3) metacharacters so the root directory's own name matches literally.
std::string glob_escape(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string flip_side(const std::string& key) {
  if (key.rfind("left", 0) == 0) return "right" + key.substr(4);
  if (key.rfind("right", 0) == 0) return "left" + key.substr(5);
  return key;
}

class Parser {
 public:
  Parser(const HostRoot& root, const ConfLimits& limits) : root_(root), limits_(limits) {}

  void read_main(std::string_view path) {
    const std::string host = normalize(std::string(path), "/");
    result_.path = host;
    auto content = read_file(host, ConfLocation{host, 0}, MainFile::yes);
    if (!content) return;
    result_.found = true;
    parse_file(*content, host, 0);
  }

  void parse_main(std::string_view text, std::string_view name) {
    const std::string host = normalize(std::string(name), "/");
    result_.path = host;
    result_.found = true;
    result_.files.push_back(host);
    parse_file(text, host, 0);
  }

  IpsecConf finish() {
    expand_all();
    deduplicate_problems();
    return std::move(result_);
  }

 private:
  enum class MainFile { no, yes };
  static constexpr std::size_t kNoSection = static_cast<std::size_t>(-1);
  static constexpr std::size_t kSkipSection = static_cast<std::size_t>(-2);

  void problem(const ConfLocation& where, std::string message) {
    result_.problems.push_back(ConfProblem{where, std::move(message)});
  }

  // An absolute, lexically normal host path; `relative_to` is the including file's directory.
  static std::string normalize(const std::string& path, const std::string& relative_to) {
    std::filesystem::path full(path);
    if (!full.is_absolute()) full = std::filesystem::path(relative_to) / full;
    full = full.lexically_normal();
    if (!full.is_absolute()) full = "/" / full;
    return full.string();
  }

  std::optional<std::string> read_file(const std::string& host, const ConfLocation& from, MainFile main) {
    if (result_.files.size() >= limits_.max_files) {
      problem(from, "not reading " + host + ": more than " + std::to_string(limits_.max_files) +
                        " files included; check the include lines for a loop");
      return std::nullopt;
    }
    auto content = root_.read(std::string_view(host).substr(1), limits_.max_file_bytes + 1);
    if (!content) {
      if (main == MainFile::yes && content.error().code == ENOENT) return std::nullopt;
      problem(from, "cannot read " + host + ": " + std::strerror(content.error().code));
      return std::nullopt;
    }
    if (content->size() > limits_.max_file_bytes) {
      problem(from, "skipping " + host + ": larger than " + std::to_string(limits_.max_file_bytes) +
                        " bytes; an ipsec.conf file is never that big");
      return std::nullopt;
    }
    result_.files.push_back(host);
    return std::move(content).value();
  }

  void parse_file(std::string_view text, const std::string& file, int depth) {
    file_stack_.push_back(file);
    int line_number = 0;
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      ++line_number;
      parse_line(text.substr(start, end - start), ConfLocation{file, line_number}, depth);
      if (end == text.size()) break;
      start = end + 1;
    }
    file_stack_.pop_back();
  }

  void parse_line(std::string_view raw, const ConfLocation& where, int depth) {
    if (raw.find('\0') != std::string_view::npos) {
      problem(where, "line contains a NUL byte; ignored");
      return;
    }
    const std::string_view content = strip_comment(raw);
    const std::string_view text = stackmgr::base::trim(content);
    if (text.empty()) return;
    const bool indented = is_space(content.front());
    const auto words = split_words(text);

    if (words.front() == "include" && text.find('=') == std::string_view::npos) {
      significant_ = true;
      if (words.size() != 2) {
        problem(where, "include takes exactly one file name (shell wildcards allowed, no white space)");
        return;
      }
      include(words[1], where, depth);
      return;
    }
    if (indented) {
      significant_ = true;
      parameter(text, where);
      return;
    }
    header(words, where);
  }

  void header(const std::vector<std::string_view>& words, const ConfLocation& where) {
    const bool first = !significant_;
    significant_ = true;
    const std::string_view word = words.front();
    if (word == "version") {
      if (words.size() != 2)
        problem(where, "version takes one value (write 'version 2')");
      else if (!first)
        problem(where, "'version' must be the first significant line; ignored");
      else
        result_.version = std::string(words[1]);
      return;
    }
    std::optional<SectionType> type;
    if (word == "config") type = SectionType::config;
    if (word == "conn") type = SectionType::conn;
    if (word == "ca") type = SectionType::ca;
    if (!type) {
      if (word.find('=') != std::string_view::npos) {
        problem(where,
                "parameter " + quote(word) + " is not indented; parameter lines must start with white space");
      } else {
        problem(where, "unrecognized line starting with " + quote(word) +
                           "; a section starts with 'config setup', 'conn NAME' or 'ca NAME'");
        current_ = kSkipSection;
      }
      return;
    }
    if (words.size() != 2) {
      problem(where, std::string(word) + " takes exactly one name");
      current_ = kSkipSection;
      return;
    }
    const std::string_view name = words[1];
    if (*type == SectionType::config && name != "setup") {
      problem(where,
              "unknown section 'config " + std::string(name) + "' (only 'config setup' exists); ignored");
      current_ = kSkipSection;
      return;
    }
    if (name != "%default" && !is_valid_name(name)) {
      problem(where, "section name " + quote(name) +
                         " should start with a letter and hold only letters, digits, '.', '_' and '-'");
    }
    open_section(*type, std::string(name), where);
  }

  void open_section(SectionType type, std::string name, const ConfLocation& where) {
    const auto key = std::make_pair(type, name);
    if (const auto found = index_.find(key); found != index_.end()) {
      const ConfSection& first = result_.sections[found->second];
      if (name != "%default") {
        problem(where, std::string(to_string(type)) + " " + name + " is defined twice (first at " +
                           first.where.describe() + "); the two are merged");
      }
      current_ = found->second;
      return;
    }
    ConfSection section;
    section.type = type;
    section.name = std::move(name);
    section.where = where;
    index_.emplace(key, result_.sections.size());
    current_ = result_.sections.size();
    result_.sections.push_back(std::move(section));
  }

  // `key=value`, `key = value` or `key="quoted value"`.
  void parameter(std::string_view text, const ConfLocation& where) {
    const auto equals = text.find('=');
    if (equals == std::string_view::npos) {
      problem(where, "expected 'name=value', got " + quote(text));
      return;
    }
    const std::string_view key = stackmgr::base::trim(text.substr(0, equals));
    if (!is_valid_name(key)) {
      problem(where, "invalid parameter name " + quote(key));
      return;
    }
    std::string value = parse_value(stackmgr::base::trim(text.substr(equals + 1)), where);
    if (current_ == kSkipSection) return;
    if (current_ == kNoSection) {
      problem(where, "parameter " + quote(key) + " outside any section; start one with 'conn NAME'");
      return;
    }
    ConfSection& section = result_.sections[current_];
    if (key == "also" || key == "alsoflip") {
      if (section.name == "%default") {
        problem(where, "%default sections may not contain " + std::string(key) + "; ignored");
        return;
      }
      if (value.empty()) {
        problem(where, std::string(key) + " needs a section name");
        return;
      }
      if (key == "alsoflip" && section.type != SectionType::conn) {
        problem(where, "alsoflip is only for conn sections; ignored");
        return;
      }
      section.also.push_back(
          AlsoRef{ConfValue{std::move(value), where}, key == "also" ? AlsoKind::plain : AlsoKind::flip});
      return;
    }
    if (value.empty()) return;  // an empty value means the default, as if the line were absent
    if (const auto existing = section.keys.find(key); existing != section.keys.end()) {
      problem(where, quote(key) + " is set twice in " + std::string(to_string(section.type)) + " " +
                         section.name + " (first at " + existing->second.where.describe() +
                         "); the first is used");
      return;
    }
    section.keys.emplace(std::string(key), ConfValue{std::move(value), where});
  }

  std::string parse_value(std::string_view text, const ConfLocation& where) {
    if (text.empty() || text.front() != '"') {
      if (text.find_first_of(" \t") != std::string_view::npos) {
        problem(where, "value " + quote(text) + " contains white space; enclose it in double quotes");
      } else if (text.find('"') != std::string_view::npos) {
        problem(where, "value " + quote(text) + " contains a stray double quote");
      }
      return std::string(text);
    }
    const auto close = text.find('"', 1);
    if (close == std::string_view::npos) {
      problem(where, "missing closing double quote; values cannot continue on the next line");
      return std::string(text.substr(1));
    }
    if (!stackmgr::base::trim(text.substr(close + 1)).empty()) {
      problem(where, "unexpected text after the closing double quote: " +
                         quote(stackmgr::base::trim(text.substr(close + 1))));
    }
    return std::string(text.substr(1, close - 1));
  }

  void include(std::string_view pattern, const ConfLocation& where, int depth) {
    if (depth + 1 > limits_.max_include_depth) {
      problem(where, "include nested deeper than " + std::to_string(limits_.max_include_depth) +
                         " levels; not following " + std::string(pattern));
      return;
    }
    const std::string directory = std::filesystem::path(where.file).parent_path().string();
    const std::string host_pattern = normalize(std::string(pattern), directory.empty() ? "/" : directory);
    std::vector<std::string> matches;
    if (!has_wildcard(host_pattern)) {
      if (!root_.exists(std::string_view(host_pattern).substr(1))) {
        problem(where, "include " + host_pattern + ": no such file");
        return;
      }
      matches.push_back(host_pattern);
    } else {
      matches = expand_glob(host_pattern, where);
    }
    for (const std::string& file : matches) {
      if (std::find(file_stack_.begin(), file_stack_.end(), file) != file_stack_.end()) {
        problem(where, "include loop: " + file +
                           " includes itself (directly or through other files); not following");
        continue;
      }
      auto content = read_file(file, where, MainFile::no);
      if (!content) continue;
      // The included text replaces the line, surrounded by empty lines: parsing state carries on.
      parse_file(*content, file, depth + 1);
    }
  }

  // glob(3), never a shell: matches under the root, returned as host paths, sorted.
  std::vector<std::string> expand_glob(const std::string& host_pattern, const ConfLocation& where) {
    std::string prefix = root_.root().string();
    while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
    const std::string full = glob_escape(prefix) + host_pattern;
    glob_t found{};
    const int status = ::glob(full.c_str(), 0, nullptr, &found);
    std::vector<std::string> matches;
    if (status == 0) {
      for (std::size_t i = 0; i < found.gl_pathc; ++i) {
        const std::string path = found.gl_pathv[i];
        if (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0) {
          matches.push_back(path.substr(prefix.size()));
        }
      }
    } else if (status != GLOB_NOMATCH) {
      problem(where, "include " + host_pattern + ": cannot expand the pattern");
    }
    ::globfree(&found);
    return matches;
  }

  const ConfSection* find_section(SectionType type, const std::string& name) const {
    const auto found = index_.find(std::make_pair(type, name));
    return found == index_.end() ? nullptr : &result_.sections[found->second];
  }

  struct Expansion {
    ConfSection result;
    std::vector<std::string> chain;  // also= path being followed, for loop detection
    std::set<std::string> appended;  // sections already appended (each only once)
  };

  // Adds `section`'s keys that `out` lacks, then follows its also= references in order.
  void append(Expansion& out, const ConfSection& section, AlsoKind kind) {
    for (const auto& [key, value] : section.keys) {
      out.result.keys.try_emplace(kind == AlsoKind::flip ? flip_side(key) : key, value);
    }
    for (const AlsoRef& ref : section.also) {
      const std::string& name = ref.target.value;
      const std::string type(to_string(section.type));
      if (name == "%default") {
        problem(ref.target.where, "also=%default is not allowed; %default applies by itself");
        continue;
      }
      const ConfSection* target = find_section(section.type, name);
      if (target == nullptr) {
        problem(ref.target.where, "also=" + name + ": there is no " + type + " " + name);
        continue;
      }
      if (std::find(out.chain.begin(), out.chain.end(), name) != out.chain.end()) {
        std::string loop;
        for (const std::string& step : out.chain) loop += step + " -> ";
        problem(ref.target.where, "also= loop: " + loop + name + "; not following");
        continue;
      }
      if (out.chain.size() >= static_cast<std::size_t>(limits_.max_also_depth)) {
        problem(ref.target.where, "also= nested deeper than " + std::to_string(limits_.max_also_depth) +
                                      " levels; not following " + name);
        continue;
      }
      if (!out.appended.insert(name).second) {
        problem(ref.target.where, type + " " + name + " is appended to " + type + " " + out.result.name +
                                      " more than once; the later reference is ignored");
        continue;
      }
      const AlsoKind inner =
          (kind == AlsoKind::flip) != (ref.kind == AlsoKind::flip) ? AlsoKind::flip : AlsoKind::plain;
      out.chain.push_back(name);
      append(out, *target, inner);
      out.chain.pop_back();
    }
  }

  ConfSection expand(const ConfSection& raw) {
    Expansion out;
    out.result.type = raw.type;
    out.result.name = raw.name;
    out.result.where = raw.where;
    out.chain.push_back(raw.name);
    append(out, raw, AlsoKind::plain);
    if (const ConfSection* defaults = find_section(raw.type, "%default")) {
      for (const auto& [key, value] : defaults->keys) out.result.keys.try_emplace(key, value);
    }
    return std::move(out.result);
  }

  void expand_all() {
    for (const ConfSection& raw : result_.sections) {
      if (raw.name == "%default") continue;
      switch (raw.type) {
        case SectionType::config: result_.setup = expand(raw); break;
        case SectionType::conn: result_.conns.push_back(expand(raw)); break;
        case SectionType::ca: result_.cas.push_back(expand(raw)); break;
      }
    }
    if (result_.setup.name.empty()) {
      result_.setup.type = SectionType::config;
      result_.setup.name = "setup";
    }
  }

  // Expansion can report one broken also= once per conn that reaches it; keep the first.
  void deduplicate_problems() {
    std::set<std::pair<std::string, std::string>> seen;
    std::vector<ConfProblem> unique;
    for (ConfProblem& item : result_.problems) {
      if (seen.emplace(item.where.describe(), item.message).second) unique.push_back(std::move(item));
    }
    result_.problems = std::move(unique);
  }

  const HostRoot& root_;
  const ConfLimits& limits_;
  IpsecConf result_;
  std::map<std::pair<SectionType, std::string>, std::size_t> index_;
  std::vector<std::string> file_stack_;
  std::size_t current_ = kNoSection;
  bool significant_ = false;
};

}  // namespace

std::string ConfLocation::describe() const {
  if (line == 0) return file;
  return file + ":" + std::to_string(line);
}

std::string ConfProblem::describe() const { return where.describe() + ": " + message; }

std::string_view to_string(SectionType type) {
  switch (type) {
    case SectionType::config: return "config";
    case SectionType::conn: return "conn";
    case SectionType::ca: return "ca";
  }
  return "conn";
}

const ConfValue* ConfSection::find(std::string_view key) const {
  const auto found = keys.find(key);
  return found == keys.end() ? nullptr : &found->second;
}

std::string_view ConfSection::get(std::string_view key, std::string_view fallback) const {
  const ConfValue* value = find(key);
  return value == nullptr ? fallback : std::string_view(value->value);
}

const ConfSection* IpsecConf::conn(std::string_view name) const {
  const auto match =
      std::find_if(conns.begin(), conns.end(), [&](const ConfSection& c) { return c.name == name; });
  return match == conns.end() ? nullptr : &*match;
}

IpsecConf read_ipsec_conf(const HostRoot& root, std::string_view path, const ConfLimits& limits) {
  Parser parser(root, limits);
  parser.read_main(path);
  return parser.finish();
}

IpsecConf parse_ipsec_conf(std::string_view text, std::string_view name, const HostRoot& root,
                           const ConfLimits& limits) {
  Parser parser(root, limits);
  parser.parse_main(text, name);
  return parser.finish();
}

}  // namespace detect
