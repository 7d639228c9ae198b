#include "core/config/config_tree.h"

#include <sstream>

namespace seer::config {

std::vector<std::string> split_key_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : path) {
    if (c == '.') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!path.empty()) parts.push_back(cur);
  return parts;
}

ConfigTree::ConfigTree() : root_(YAML::NodeType::Map) {}
ConfigTree::ConfigTree(YAML::Node root) : root_(std::move(root)) {}

ConfigTree ConfigTree::clone() const {
  ConfigTree copy(YAML::Clone(root_));
  copy.sources_ = sources_;
  return copy;
}

YAML::Node ConfigTree::at(const std::string& path) const {
  // Walk with reset() (rebinds the handle; `cur = next` would overwrite cur's content) and const
  // operator[] (the non-const one may insert).
  YAML::Node cur;
  cur.reset(root_);
  for (const auto& part : split_key_path(path)) {
    if (!cur.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& const_cur = cur;
    YAML::Node next = const_cur[part];
    if (!next.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    cur.reset(next);
  }
  return cur;
}

bool ConfigTree::has(const std::string& path) const { return at(path).IsDefined(); }

std::string ConfigTree::source_of(const std::string& path) const {
  std::string p = path;
  while (true) {
    if (auto it = sources_.find(p); it != sources_.end()) return it->second;
    const auto dot = p.rfind('.');
    if (dot == std::string::npos) break;
    p = p.substr(0, dot);
  }
  if (auto it = sources_.find(""); it != sources_.end()) return it->second;
  return "<config>";
}

void ConfigTree::set_source(const std::string& path, const std::string& source) {
  sources_[path] = source;
}

void ConfigTree::set_sources_recursive(const std::string& path, const YAML::Node& node,
                                       const std::string& source) {
  set_source(path, source);
  if (!node.IsMap()) return;
  for (const auto& kv : node) {
    const auto key = kv.first.as<std::string>();
    set_sources_recursive(path.empty() ? key : path + "." + key, kv.second, source);
  }
}

void ConfigTree::drop_sources_below(const std::string& path) {
  const std::string prefix = path + ".";
  for (auto it = sources_.begin(); it != sources_.end();) {
    if (it->first == path || it->first.rfind(prefix, 0) == 0) {
      it = sources_.erase(it);
    } else {
      ++it;
    }
  }
}

std::string ConfigTree::to_yaml() const {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetMapFormat(YAML::Block);
  out.SetSeqFormat(YAML::Flow);
  out << root_;
  return std::string(out.c_str()) + "\n";
}

}  // namespace seer::config
