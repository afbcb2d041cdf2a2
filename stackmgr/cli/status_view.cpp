#include "stackmgr/cli/status_view.hpp"

#include <cmath>
#include <ctime>
#include <sstream>

namespace stackmgr::cli {
namespace {

using nlohmann::json;

std::string duration_text(double seconds) {
  const long total = std::lround(seconds);
  std::ostringstream out;
  if (total >= 86400) out << total / 86400 << "d ";
  if (total >= 3600) out << (total / 3600) % 24 << "h ";
  if (total >= 60) out << (total / 60) % 60 << "m ";
  out << total % 60 << "s";
  return out.str();
}

std::string text_of(const json& value, const std::string& fallback = "-") {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number()) return value.dump();
  return fallback;
}

double number_of(const json& value) { return value.is_number() ? value.get<double>() : 0.0; }

// A member of a document from the supervisor, or null when it lacks one: an older or busy
// supervisor leaves parts out, and the view shows what is there.
const json& field(const json& object, const char* key) {
  static const json missing;
  if (!object.is_object()) return missing;
  const auto it = object.find(key);
  return it == object.end() ? missing : *it;
}

// The module watch: its state and the last events with the reactions taken.
void render_watch(std::ostringstream& out, const json& watch) {
  if (!watch.is_object()) return;
  out << "watch:    " << text_of(field(watch, "state"));
  if (!text_of(field(watch, "reason"), "").empty()) out << ": " << text_of(field(watch, "reason"));
  out << " (" << text_of(field(watch, "ignored_events")) << " unrelated events ignored)\n";
  if (!field(watch, "events").is_array()) return;
  for (const auto& record : field(watch, "events")) {
    const double at = number_of(field(record, "at"));
    const auto seconds = static_cast<std::time_t>(at);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char stamp[32];
    if (std::strftime(stamp, sizeof stamp, "%H:%M:%S", &utc) == 0) stamp[0] = '\0';
    out << "          " << stamp << " " << text_of(field(record, "events")) << " -> "
        << text_of(field(record, "reaction"));
    if (!text_of(field(record, "message"), "").empty()) out << ": " << text_of(field(record, "message"));
    out << "\n";
  }
}

}  // namespace

std::string render_status(const json& doc) {
  std::ostringstream out;
  const json& supervisor = field(doc, "supervisor");
  if ((field(supervisor, "running") == true)) {
    out << "stackmgr: " << text_of(field(supervisor, "phase")) << ", pid "
        << text_of(field(supervisor, "pid")) << ", up "
        << duration_text(number_of(field(supervisor, "uptime_s"))) << " (modules.mode "
        << text_of(field(supervisor, "module_mode")) << ")\n";
    out << "          " << text_of(field(supervisor, "status")) << "\n";
    if (doc.contains("module_work") && field(doc, "module_work").is_object()) {
      const json& work = field(doc, "module_work");
      out << "          " << text_of(field(work, "doing")) << " for "
          << duration_text(number_of(field(work, "for_s")));
      if (!text_of(field(work, "step"), "").empty()) out << ": " << text_of(field(work, "step"));
      out << "\n";
    }
  } else {
    out << "stackmgr: not running";
    if (text_of(field(supervisor, "pid_file"), "") == "stale") {
      out << " (a pid file is left: the supervisor"
          << (supervisor.contains("pid") ? " pid " + text_of(field(supervisor, "pid")) : "") << " is gone)";
    }
    out << "\n";
    if (doc.contains("last_run") && field(doc, "last_run").is_object()) {
      const json& last = field(field(doc, "last_run"), "supervisor");
      out << "last run: ended with exit " << text_of(field(last, "exit")) << ": "
          << text_of(field(last, "status")) << "\n";
    }
  }
  const json& stack = field(doc, "stack");
  out << "stack:    " << ((field(supervisor, "running") == true) ? "" : "start would choose ")
      << text_of(field(stack, "explanation"), text_of(field(stack, "chosen"), "none")) << "\n";
  out << "          in the kernel: " << text_of(field(stack, "active"), "none") << " ("
      << text_of(field(doc, "overall")) << ")\n";
  const json& daemon = field(doc, "daemon");
  if (daemon.is_object()) {
    out << "daemon:   " << text_of(field(daemon, "name")) << " " << text_of(field(daemon, "state"));
    if (field(daemon, "pid").is_number()) out << ", pid " << text_of(field(daemon, "pid"));
    if (field(daemon, "uptime_s").is_number())
      out << ", up " << duration_text(number_of(field(daemon, "uptime_s")));
    out << ", restarts " << text_of(field(daemon, "restarts"));
    if (field(daemon, "last_exit").is_object()) {
      out << "; last exit: " << text_of(field(field(daemon, "last_exit"), "description"));
      if (field(field(daemon, "last_exit"), "ago_s").is_number()) {
        out << " " << duration_text(number_of(field(field(daemon, "last_exit"), "ago_s"))) << " ago";
      }
    }
    if (daemon.contains("failure")) out << "\n          failed: " << text_of(field(daemon, "failure"));
    out << "\n";
  }
  const json& kernel = field(doc, "kernel");
  if (kernel.contains("error")) {
    out << "kernel:   SAD/SPD not readable: " << text_of(field(kernel, "error")) << "\n";
  } else if (kernel.is_object()) {
    out << "kernel:   " << text_of(field(kernel, "sas")) << " SAs, " << text_of(field(kernel, "policies"))
        << " policies (" << text_of(field(kernel, "main_policies")) << " main, "
        << text_of(field(kernel, "sub_policies")) << " sub)\n";
  }
  render_watch(out, doc.contains("watch") ? field(doc, "watch")
                                          : (doc.contains("last_run") && field(doc, "last_run").is_object()
                                                 ? field(field(doc, "last_run"), "watch")
                                                 : json()));
  if (field(doc, "modules").is_array()) {
    const std::string chosen = text_of(field(stack, "chosen"), "");
    out << "modules: ";
    for (const auto& module : field(doc, "modules")) {
      if (text_of(field(module, "role"), "") != "core") continue;
      if (!chosen.empty() && text_of(field(module, "stack"), "") != chosen) continue;
      out << " " << text_of(field(module, "name")) << " " << text_of(field(module, "state"));
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace stackmgr::cli
