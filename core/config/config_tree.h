// A resolved configuration: one YAML tree plus, for every key path, the file (or "command line")
// that last set it, so errors can say where a bad value came from.
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <string>
#include <vector>

namespace seer::config {

class ConfigTree {
 public:
  ConfigTree();
  explicit ConfigTree(YAML::Node root);

  // A deep copy (YAML::Node copies are references, so plain copies share the tree).
  ConfigTree clone() const;

  const YAML::Node& root() const { return root_; }
  YAML::Node& root() { return root_; }

  // Node at a dotted path ("model.rope.theta"); an invalid (!IsDefined) node when absent.
  YAML::Node at(const std::string& path) const;
  bool has(const std::string& path) const;

  // Origin bookkeeping: the most specific recorded source for `path` (walks up the dots).
  std::string source_of(const std::string& path) const;
  void set_source(const std::string& path, const std::string& source);
  // Records `source` for `path` and every key below it in `node`.
  void set_sources_recursive(const std::string& path, const YAML::Node& node,
                             const std::string& source);
  void drop_sources_below(const std::string& path);

  // Block-style YAML of the whole tree (what `seer show` prints and runs save as config.yaml).
  std::string to_yaml() const;

 private:
  YAML::Node root_;
  std::map<std::string, std::string> sources_;
};

// Splits "a.b.c" into {"a","b","c"}.
std::vector<std::string> split_key_path(const std::string& path);

}  // namespace seer::config
