// Typed access to one section of a resolved config tree. Stages and library code parse their
// plain structs through a ConfigReader and never touch YAML elsewhere. A reader remembers which
// keys were read; finish() rejects the rest as unknown keys, naming the file that set them.
//
//   EvalConfig parse_eval(config::ConfigReader r) {
//     EvalConfig c;
//     c.context = r.get<int64_t>("context");            // required
//     c.stride = r.get<int64_t>("stride", c.context);   // optional, with default
//     r.finish();
//     return c;
//   }
#pragma once

#include "core/config/config_tree.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace seer::config {

class ConfigReader {
 public:
  // Reads the subtree at `path` ("" = root, "eval" or "model.rope" for sections).
  ConfigReader(const ConfigTree& tree, std::string path);

  bool has(const std::string& key) const;
  // Supported T: bool, int64_t, int, double, std::string, std::vector<int64_t>,
  // std::vector<double>, std::vector<std::string>.
  template <typename T>
  T get(const std::string& key) const;                    // required: error if missing or null
  template <typename T>
  T get(const std::string& key, const T& fallback) const; // optional
  template <typename T>
  std::optional<T> get_optional(const std::string& key) const;  // absent or null -> nullopt
  // One of `choices`, else an error listing them.
  std::string get_choice(const std::string& key, const std::vector<std::string>& choices) const;
  std::string get_choice(const std::string& key, const std::vector<std::string>& choices,
                         const std::string& fallback) const;

  ConfigReader child(const std::string& key) const;   // a nested section (must be a mapping)
  std::vector<std::string> keys() const;               // keys of this section, in file order
  std::string path_of(const std::string& key) const;  // "eval.context"
  std::string source_of(const std::string& key) const;  // file (or "command line") that set it
  // Marks a key as consumed without reading it (for sections parsed elsewhere).
  void mark_used(const std::string& key) const;

  // Throws ConfigError naming the first key of this section that nobody read.
  void finish() const;

  [[noreturn]] void fail(const std::string& key, const std::string& problem) const;

  const ConfigTree& tree() const { return *tree_; }
  const std::string& path() const { return path_; }

 private:
  const ConfigTree* tree_;
  std::string path_;
  std::shared_ptr<std::set<std::string>> used_;
};

}  // namespace seer::config
