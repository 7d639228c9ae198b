#include "analysis/python_plot.h"

#include "core/config/paths.h"

#include <fmt/format.h>

#include <cstdlib>
#include <stdexcept>
#include <sys/wait.h>

namespace fs = std::filesystem;

namespace seer::analysis {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

namespace {

// Runs `path` with plot_python() and `args`; the exit status, or -1 when the script is missing.
int run_script(const fs::path& path, const std::vector<std::string>& args) {
  if (!fs::exists(path)) return -1;
  std::string cmd = shell_quote(plot_python()) + " " + shell_quote(path.string());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : status;
}

}  // namespace

std::string plot_python() {
  if (const char* env = std::getenv("SEER_PYTHON"); env != nullptr && *env != '\0') return env;
  const fs::path venv = config::project_root() / ".venv" / "bin" / "python";
  if (fs::exists(venv)) return venv.string();
  return "python3";
}

void run_plot_script(const std::string& script, const std::vector<std::string>& args) {
  const fs::path path = config::project_root() / "analysis" / "plots" / script;
  const int status = run_script(path, args);
  if (status < 0) throw std::runtime_error(fmt::format("{}: plot script not found", path.string()));
  if (status != 0) {
    throw std::runtime_error(fmt::format(
        "{} failed (exit {}); is matplotlib installed in {}? (scripts/setup.sh installs it)",
        path.string(), status, plot_python()));
  }
}

void run_project_script(const fs::path& relative_path, const std::vector<std::string>& args) {
  const fs::path path = config::project_root() / relative_path;
  const int status = run_script(path, args);
  if (status < 0) throw std::runtime_error(fmt::format("{}: script not found", path.string()));
  if (status != 0) {
    throw std::runtime_error(
        fmt::format("{} failed (exit {}) under {}", path.string(), status, plot_python()));
  }
}

std::optional<std::string> try_plot_script(const std::string& script,
                                           const std::vector<std::string>& args) {
  try {
    run_plot_script(script, args);
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

}  // namespace seer::analysis
