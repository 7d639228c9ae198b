#include "core/config/compose.h"

#include "core/config/config_error.h"
#include "core/config/override.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>

namespace fs = std::filesystem;

namespace seer::config {
namespace {

// One entry of a defaults list after command-line group overrides are applied.
struct DefaultsEntry {
  std::string group;     // empty for `_self_` and plain file entries
  std::string option;    // group option, or the plain file's stem
  bool is_self = false;
};

std::string display_path(const fs::path& config_dir, const fs::path& file) {
  std::error_code ec;
  auto rel = fs::relative(file, config_dir.parent_path(), ec);
  return ec || rel.empty() ? file.string() : rel.string();
}

YAML::Node load_yaml_file(const fs::path& file, const std::string& shown) {
  if (!fs::exists(file)) throw ConfigError(fmt::format("{}: no such config file", shown));
  try {
    YAML::Node n = YAML::LoadFile(file.string());
    if (n.IsNull()) return YAML::Node(YAML::NodeType::Map);
    if (!n.IsMap()) {
      throw ConfigError(fmt::format("{}: expected a mapping at the top level", shown));
    }
    return n;
  } catch (const YAML::Exception& e) {
    throw ConfigError(fmt::format("{}:{}:{}: malformed YAML: {}", shown, e.mark.line + 1,
                                  e.mark.column + 1, e.msg));
  }
}

bool is_global_package(const fs::path& file) {
  std::ifstream in(file);
  std::string first;
  std::getline(in, first);
  return first.find("@package _global_") != std::string::npos;
}

// Deep merge of src into dst at `path`: mappings merge key by key, anything else replaces.
void merge_into(ConfigTree& tree, YAML::Node dst, const YAML::Node& src, const std::string& path,
                const std::string& source) {
  for (const auto& kv : src) {
    const auto key = kv.first.as<std::string>();
    const std::string child = path.empty() ? key : path + "." + key;
    const YAML::Node& cdst = dst;
    YAML::Node existing = cdst[key];
    if (existing.IsDefined() && existing.IsMap() && kv.second.IsMap()) {
      merge_into(tree, existing, kv.second, child, source);
    } else {
      tree.drop_sources_below(child);
      dst[key] = YAML::Clone(kv.second);
      tree.set_sources_recursive(child, kv.second, source);
    }
  }
}

class Composer {
 public:
  Composer(fs::path config_dir, std::vector<Override> group_overrides)
      : dir_(std::move(config_dir)), group_overrides_(std::move(group_overrides)) {}

  // Composes `file` and merges the result into tree_ under `package` ("" = root).
  void compose_file(const fs::path& file, const std::string& package, bool primary) {
    const std::string shown = display_path(dir_, file);
    if (stack_.count(file.string())) {
      throw ConfigError(fmt::format("{}: defaults list includes itself (cycle)", shown));
    }
    stack_.insert(file.string());
    YAML::Node doc = load_yaml_file(file, shown);
    std::vector<DefaultsEntry> entries = parse_defaults(doc, shown);
    if (primary) apply_group_overrides(entries, shown);
    if (std::none_of(entries.begin(), entries.end(), [](auto& e) { return e.is_self; })) {
      entries.push_back(DefaultsEntry{"", "", true});
    }
    YAML::Node own(YAML::NodeType::Map);
    for (const auto& kv : doc) {
      if (kv.first.as<std::string>() != "defaults") own[kv.first] = kv.second;
    }
    for (const auto& e : entries) {
      if (e.is_self) {
        merge_at(package, own, shown);
      } else if (!e.group.empty()) {
        choices_[e.group] = e.option;
        const fs::path gfile = dir_ / e.group / (e.option + ".yaml");
        if (!fs::exists(gfile)) {
          auto options = list_group_options(dir_, e.group);
          throw ConfigError(shown, "defaults." + e.group, e.option,
                            fmt::format("no file {}; available: {}", display_path(dir_, gfile),
                                        options.empty() ? std::string("(none)")
                                                        : fmt::format("{}", fmt::join(options, ", "))));
        }
        const std::string pkg = is_global_package(gfile) ? "" : e.group;
        compose_file(gfile, pkg, false);
      } else {
        const fs::path pfile = file.parent_path() / (e.option + ".yaml");
        compose_file(pfile, package, false);
      }
    }
    stack_.erase(file.string());
  }

  ConfigTree& tree() { return tree_; }
  std::map<std::string, std::string>& choices() { return choices_; }

 private:
  std::vector<DefaultsEntry> parse_defaults(const YAML::Node& doc, const std::string& shown) {
    std::vector<DefaultsEntry> out;
    const YAML::Node& cdoc = doc;
    const YAML::Node defaults = cdoc["defaults"];
    if (!defaults.IsDefined() || defaults.IsNull()) return out;
    if (!defaults.IsSequence()) {
      throw ConfigError(shown, "defaults", "", "expected a list of `group: option` entries");
    }
    for (const auto& item : defaults) {
      if (item.IsScalar()) {
        const auto s = item.Scalar();
        out.push_back(s == "_self_" ? DefaultsEntry{"", "", true} : DefaultsEntry{"", s, false});
      } else if (item.IsMap() && item.size() == 1) {
        const auto group = item.begin()->first.as<std::string>();
        // A copy: the iterator (and the pair it points at) is a temporary of this line.
        const YAML::Node opt = item.begin()->second;
        if (opt.IsNull()) continue;   // `- sparsity: null` leaves the group out
        if (!opt.IsScalar()) {
          throw ConfigError(shown, "defaults." + group, "", "expected an option name");
        }
        out.push_back(DefaultsEntry{group, opt.Scalar(), false});
      } else {
        throw ConfigError(shown, "defaults", "", "each entry is `- group: option`, `- file` or `- _self_`");
      }
    }
    return out;
  }

  void apply_group_overrides(std::vector<DefaultsEntry>& entries, const std::string& shown) {
    for (const auto& o : group_overrides_) {
      if (o.kind != Override::Kind::kDelete && !fs::exists(dir_ / o.key / (o.value + ".yaml"))) {
        const auto options = list_group_options(dir_, o.key);
        throw ConfigError(o.origin, o.key, o.value,
                          fmt::format("no file {}; available: {}",
                                      display_path(dir_, dir_ / o.key / (o.value + ".yaml")),
                                      options.empty() ? std::string("(none)")
                                                      : fmt::format("{}", fmt::join(options, ", "))));
      }
      auto it = std::find_if(entries.begin(), entries.end(),
                             [&](const DefaultsEntry& e) { return e.group == o.key; });
      switch (o.kind) {
        case Override::Kind::kSet:
          if (it == entries.end()) {
            throw ConfigError(o.origin, o.key, o.value,
                              fmt::format("group '{}' is not in the defaults list of {}; add it "
                                          "with +{}={}", o.key, shown, o.key, o.value));
          }
          it->option = o.value;
          break;
        case Override::Kind::kAdd:
        case Override::Kind::kForceAdd:
          if (it != entries.end()) {
            if (o.kind == Override::Kind::kAdd) {
              throw ConfigError(o.origin, o.key, o.value,
                                fmt::format("group '{}' is already in the defaults; use {}={}",
                                            o.key, o.key, o.value));
            }
            it->option = o.value;
          } else {
            auto self = std::find_if(entries.begin(), entries.end(),
                                     [](const DefaultsEntry& e) { return e.is_self; });
            entries.insert(self, DefaultsEntry{o.key, o.value, false});
          }
          break;
        case Override::Kind::kDelete:
          if (it == entries.end()) {
            throw ConfigError(o.origin, "~" + o.key, "",
                              fmt::format("group '{}' is not in the defaults list", o.key));
          }
          entries.erase(it);
          break;
      }
    }
  }

  void merge_at(const std::string& package, const YAML::Node& content, const std::string& source) {
    if (package.empty()) {
      merge_into(tree_, tree_.root(), content, "", source);
      return;
    }
    YAML::Node wrapped(YAML::NodeType::Map);
    wrapped[package] = content;
    merge_into(tree_, tree_.root(), wrapped, "", source);
  }

  fs::path dir_;
  std::vector<Override> group_overrides_;
  ConfigTree tree_;
  std::map<std::string, std::string> choices_;
  std::set<std::string> stack_;
};

// Walks to the parent of `path`, creating mappings when `create`; returns nullopt when absent.
std::optional<YAML::Node> parent_of(ConfigTree& tree, const std::vector<std::string>& parts,
                                    bool create) {
  YAML::Node cur;
  cur.reset(tree.root());
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const YAML::Node& ccur = cur;
    const YAML::Node existing = ccur[parts[i]];   // an invalid node when absent: only query it
    const bool present = existing.IsDefined() && !existing.IsNull();
    if (!present) {
      if (!create) return std::nullopt;
      cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
    }
    const YAML::Node& again = cur;
    YAML::Node next = again[parts[i]];
    if (!next.IsMap()) return std::nullopt;
    cur.reset(next);
  }
  return cur;
}

YAML::Node parse_value(const Override& o) {
  try {
    YAML::Node n = YAML::Load(o.value);
    return n.IsDefined() ? n : YAML::Node(YAML::NodeType::Null);
  } catch (const YAML::Exception& e) {
    throw ConfigError(o.origin, o.key, o.value, "value is not valid YAML: " + e.msg);
  }
}

void apply_value_override(ConfigTree& tree, const Override& o) {
  const auto parts = split_key_path(o.key);
  const bool exists = tree.has(o.key);
  switch (o.kind) {
    case Override::Kind::kSet:
      if (!exists) {
        throw ConfigError(o.origin, o.key, o.value,
                          fmt::format("no such key in the config; to add one use +{}={}", o.key,
                                      o.value));
      }
      break;
    case Override::Kind::kAdd:
      if (exists) {
        throw ConfigError(o.origin, o.key, o.value,
                          fmt::format("key exists already; to change it use {}={}", o.key,
                                      o.value));
      }
      break;
    case Override::Kind::kForceAdd:
      break;
    case Override::Kind::kDelete: {
      if (!exists) throw ConfigError(o.origin, "~" + o.key, "", "no such key to delete");
      auto parent = parent_of(tree, parts, false);
      if (o.has_value) {
        const auto cur = tree.at(o.key);
        if (!cur.IsScalar() || cur.Scalar() != o.value) {
          throw ConfigError(o.origin, "~" + o.key, o.value,
                            "value does not match the current value");
        }
      }
      parent->remove(parts.back());
      tree.drop_sources_below(o.key);
      return;
    }
  }
  auto parent = parent_of(tree, parts, true);
  if (!parent) {
    throw ConfigError(o.origin, o.key, o.value,
                      "a parent of this key is not a mapping, so it can't hold a sub-key");
  }
  const YAML::Node value = parse_value(o);
  (*parent)[parts.back()] = value;
  tree.drop_sources_below(o.key);
  tree.set_sources_recursive(o.key, value, o.origin);
}

fs::path find_experiment(const fs::path& dir, const std::string& experiment) {
  fs::path direct(experiment);
  if (direct.extension() == ".yaml" && fs::exists(direct)) return fs::absolute(direct);
  fs::path file = dir / "experiment" / (experiment + ".yaml");
  if (fs::exists(file)) return file;
  auto options = list_group_options(dir, "experiment");
  throw ConfigError(fmt::format("unknown experiment '{}' (no {}); available: {}", experiment,
                                file.string(), fmt::join(options, ", ")));
}

}  // namespace

std::vector<std::string> list_group_options(const fs::path& config_dir, const std::string& group) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(config_dir / group, ec)) {
    if (e.path().extension() == ".yaml") out.push_back(e.path().stem().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> list_groups(const fs::path& config_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(config_dir, ec)) {
    if (e.is_directory()) out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

ComposedConfig compose(const ComposeRequest& request) {
  auto overrides = parse_overrides(request.overrides);
  for (auto& o : parse_overrides(request.stage_overrides, request.stage_origin))
    overrides.push_back(std::move(o));
  const auto groups = list_groups(request.config_dir);
  std::vector<Override> group_overrides, value_overrides;
  for (const auto& o : overrides) {
    const bool is_group = o.key.find('.') == std::string::npos &&
                          std::find(groups.begin(), groups.end(), o.key) != groups.end() &&
                          o.key != "experiment";
    (is_group ? group_overrides : value_overrides).push_back(o);
  }
  const fs::path file = find_experiment(request.config_dir, request.experiment);
  Composer composer(request.config_dir, group_overrides);
  composer.compose_file(file, "", true);

  ComposedConfig out;
  out.tree = std::move(composer.tree());
  for (const auto& o : value_overrides) apply_value_override(out.tree, o);
  resolve_interpolations(out.tree);
  out.experiment_file = file;
  out.config_dir = request.config_dir;
  out.choices = composer.choices();
  out.overrides = request.overrides;
  return out;
}

}  // namespace seer::config
