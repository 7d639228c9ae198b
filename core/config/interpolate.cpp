// ${a.b} interpolation over a composed tree (declared in compose.h).
#include "core/config/compose.h"
#include "core/config/config_error.h"

#include <fmt/format.h>

#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>
#include <set>

namespace seer::config {
namespace {

class Resolver {
 public:
  explicit Resolver(ConfigTree& tree) : tree_(tree) {}

  void resolve_all(YAML::Node node, const std::string& path) {
    if (node.IsMap()) {
      for (auto kv : node) {
        const auto key = kv.first.as<std::string>();
        resolve_all(kv.second, path.empty() ? key : path + "." + key);
      }
    } else if (node.IsSequence()) {
      for (size_t i = 0; i < node.size(); ++i) {
        YAML::Node item = node[i];
        if (item.IsScalar() && has_interp(item.Scalar())) {
          // List items are resolved here, not through resolve_path, so their cycle guard is here
          // too (`a: [${a}]` would otherwise recurse until the stack runs out).
          const auto item_path = fmt::format("{}[{}]", path, i);
          if (!in_progress_.insert(item_path).second) {
            throw ConfigError(tree_.source_of(path), item_path, item.Scalar(), "interpolation cycle");
          }
          node[i] = resolve_scalar(item.Scalar(), item_path);
          in_progress_.erase(item_path);
        } else {
          resolve_all(item, fmt::format("{}[{}]", path, i));
        }
      }
    } else if (node.IsScalar() && has_interp(node.Scalar())) {
      resolve_path(path);
    }
  }

 private:
  static bool has_interp(const std::string& s) { return s.find("${") != std::string::npos; }

  // Resolves the value at `path` in place (it may be referenced before the walk reaches it).
  YAML::Node resolve_path(const std::string& path) {
    YAML::Node node = tree_.at(path);
    if (!node.IsDefined() || !node.IsScalar() || !has_interp(node.Scalar())) return node;
    if (in_progress_.count(path)) {
      throw ConfigError(tree_.source_of(path), path, node.Scalar(), "interpolation cycle");
    }
    in_progress_.insert(path);
    const std::string raw = node.Scalar();
    YAML::Node value = resolve_scalar(raw, path);
    in_progress_.erase(path);
    set_at(path, value);
    record_source(path, raw, value);
    return value;
  }

  // A value that came through ${x} is blamed on where x was set, so an error about it names a
  // command-line override that reached this key by interpolation, not only the file that holds
  // the ${...}: "command line (through ${gate.block_size} in <file>)".
  void record_source(const std::string& path, const std::string& raw, const YAML::Node& value) {
    const std::string own = tree_.source_of(path);
    std::vector<std::string> from;
    for (size_t i = raw.find("${"); i != std::string::npos; i = raw.find("${", i + 2)) {
      const auto end = raw.find('}', i);
      if (end == std::string::npos) break;
      const std::string expr = raw.substr(i + 2, end - i - 2);
      if (expr.rfind("env:", 0) == 0) continue;
      const std::string src = tree_.source_of(expr);
      if (src != own && std::find(from.begin(), from.end(), src) == from.end()) from.push_back(src);
    }
    if (from.empty()) return;
    const std::string source = fmt::format("{} (through {} in {})", fmt::join(from, ", "), raw, own);
    tree_.set_sources_recursive(path, value, source);
  }

  YAML::Node resolve_scalar(const std::string& s, const std::string& where) {
    // A value that is exactly one ${...} takes the referenced node (keeps ints, lists, maps).
    if (s.rfind("${", 0) == 0 && s.find('}') == s.size() - 1 && s.find("${", 2) == std::string::npos) {
      return YAML::Clone(lookup(s.substr(2, s.size() - 3), where, s));
    }
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
      const auto start = s.find("${", i);
      if (start == std::string::npos) {
        out += s.substr(i);
        break;
      }
      const auto end = s.find('}', start);
      if (end == std::string::npos) {
        throw ConfigError(tree_.source_of(where), where, s, "unterminated ${...}");
      }
      out += s.substr(i, start - i);
      const YAML::Node ref = lookup(s.substr(start + 2, end - start - 2), where, s);
      if (!ref.IsScalar()) {
        throw ConfigError(tree_.source_of(where), where, s,
                          "only scalar values can be embedded in a string");
      }
      out += ref.Scalar();
      i = end + 1;
    }
    return YAML::Node(out);
  }

  YAML::Node lookup(const std::string& expr, const std::string& where, const std::string& raw) {
    if (expr.rfind("env:", 0) == 0) {
      const auto spec = expr.substr(4);
      const auto comma = spec.find(',');
      const auto name = spec.substr(0, comma);
      const char* v = std::getenv(name.c_str());
      if (v != nullptr) return YAML::Node(std::string(v));
      if (comma != std::string::npos) return YAML::Node(spec.substr(comma + 1));
      throw ConfigError(tree_.source_of(where), where, raw,
                        fmt::format("environment variable {} is not set", name));
    }
    if (!tree_.has(expr)) {
      throw ConfigError(tree_.source_of(where), where, raw,
                        fmt::format("interpolation refers to '{}', which is not in the config",
                                    expr));
    }
    YAML::Node target = resolve_path(expr);
    if (target.IsMap() || target.IsSequence()) resolve_all(target, expr);
    return target;
  }

  void set_at(const std::string& path, const YAML::Node& value) {
    auto parts = split_key_path(path);
    YAML::Node cur;
    cur.reset(tree_.root());
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      const YAML::Node& c = cur;
      YAML::Node next = c[parts[i]];
      cur.reset(next);
    }
    cur[parts.back()] = value;
  }

  ConfigTree& tree_;
  std::set<std::string> in_progress_;
};

}  // namespace

void resolve_interpolations(ConfigTree& tree) {
  Resolver r(tree);
  r.resolve_all(tree.root(), "");
}

}  // namespace seer::config
