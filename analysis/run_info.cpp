#include "analysis/run_info.h"

#include "analysis/python_plot.h"
#include "core/config/paths.h"

#include <ATen/Context.h>
#include <torch/version.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>

namespace seer::analysis {

std::string git_commit() {
  // A copied tree (the lent GPU machine's copy carries a stale .git) is named by the caller.
  if (const char* env = std::getenv("SEER_GIT"); env != nullptr && *env != '\0') return env;
  const std::string cmd =
      "git -C '" + config::project_root().string() + "' describe --always --dirty --abbrev=12 --exclude='*' 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(cmd.c_str(), "r"), ::pclose);
  if (!pipe) return "unknown";
  std::array<char, 64> buf{};
  std::string out;
  while (std::fgets(buf.data(), buf.size(), pipe.get()) != nullptr) out += buf.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out.empty() ? "unknown" : out;
}

std::string run_command(const std::filesystem::path& run_dir) {
  auto word = [](const std::string& s) {
    const bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || std::strchr("_.=+,-/:@%[]", ch);
    });
    return plain ? s : shell_quote(s);
  };
  std::string command = "seer run " + run_dir.parent_path().filename().string();
  const auto typed = run_dir / "overrides.yaml";
  if (std::filesystem::exists(typed)) {
    for (const auto& o : YAML::LoadFile(typed.string())) command += " " + word(o.as<std::string>());
  }
  return command;
}

std::string utc_timestamp(const char* format) {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

nlohmann::json yaml_to_json(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return nullptr;
  if (node.IsMap()) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& kv : node) j[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return j;
  }
  if (node.IsSequence()) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& item : node) j.push_back(yaml_to_json(item));
    return j;
  }
  const auto& s = node.Scalar();
  if (node.Tag() == "!") return s;   // quoted in the YAML: keep it a string
  if (s == "true" || s == "True") return true;
  if (s == "false" || s == "False") return false;
  try {
    size_t pos = 0;
    const long long i = std::stoll(s, &pos);
    if (pos == s.size()) return i;
    const double d = std::stod(s, &pos);
    if (pos == s.size()) return d;
  } catch (...) {
  }
  return s;
}

nlohmann::json run_info(const config::ConfigTree& config) {
  nlohmann::json j;
  j["git"] = git_commit();
  j["torch"] = TORCH_VERSION;
  j["cuda_available"] = at::hasCUDA();
  j["date"] = utc_timestamp();
  j["config"] = yaml_to_json(config.root());
  return j;
}

}  // namespace seer::analysis
