#include "core/config/config_reader.h"

#include "core/config/config_error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace seer::config {
namespace {

std::string scalar_text(const YAML::Node& n) {
  if (!n.IsDefined()) return "<missing>";
  if (n.IsNull()) return "null";
  if (n.IsScalar()) return n.Scalar();
  YAML::Emitter e;
  e.SetMapFormat(YAML::Flow);
  e.SetSeqFormat(YAML::Flow);
  e << n;
  return e.c_str();
}

bool parse_bool(const std::string& s, bool* out) {
  static const char* kTrue[] = {"true", "True", "TRUE", "yes", "on"};
  static const char* kFalse[] = {"false", "False", "FALSE", "no", "off"};
  for (auto* t : kTrue)
    if (s == t) return *out = true, true;
  for (auto* f : kFalse)
    if (s == f) return *out = false, true;
  return false;
}

bool parse_int(const std::string& s, int64_t* out) {
  if (s.empty()) return false;
  size_t pos = 0;
  try {
    *out = std::stoll(s, &pos, 0);
  } catch (...) {
    return false;
  }
  return pos == s.size();
}

bool parse_double(const std::string& s, double* out) {
  if (s.empty()) return false;
  if (s == ".inf" || s == "inf") return *out = 1.0 / 0.0, true;
  if (s == "-.inf" || s == "-inf") return *out = -1.0 / 0.0, true;
  size_t pos = 0;
  try {
    *out = std::stod(s, &pos);
  } catch (...) {
    return false;
  }
  return pos == s.size();
}

template <typename T>
struct Converter;

template <>
struct Converter<bool> {
  static constexpr const char* kExpected = "expected a boolean (true/false)";
  static bool convert(const YAML::Node& n, bool* out) {
    return n.IsScalar() && parse_bool(n.Scalar(), out);
  }
};
template <>
struct Converter<int64_t> {
  static constexpr const char* kExpected = "expected an integer";
  static bool convert(const YAML::Node& n, int64_t* out) {
    return n.IsScalar() && parse_int(n.Scalar(), out);
  }
};
template <>
struct Converter<int> {
  static constexpr const char* kExpected = "expected an integer";
  static bool convert(const YAML::Node& n, int* out) {
    int64_t v = 0;
    if (!Converter<int64_t>::convert(n, &v)) return false;
    if (v < INT32_MIN || v > INT32_MAX) return false;
    *out = static_cast<int>(v);
    return true;
  }
};
template <>
struct Converter<double> {
  static constexpr const char* kExpected = "expected a number";
  static bool convert(const YAML::Node& n, double* out) {
    return n.IsScalar() && parse_double(n.Scalar(), out);
  }
};
template <>
struct Converter<std::string> {
  static constexpr const char* kExpected = "expected a string";
  static bool convert(const YAML::Node& n, std::string* out) {
    if (!n.IsScalar()) return false;
    *out = n.Scalar();
    return true;
  }
};
template <typename E>
struct Converter<std::vector<E>> {
  static constexpr const char* kExpected = "expected a list";
  static bool convert(const YAML::Node& n, std::vector<E>* out) {
    if (!n.IsSequence()) return false;
    out->clear();
    for (const auto& item : n) {
      E e{};
      if (!Converter<E>::convert(item, &e)) return false;
      out->push_back(e);
    }
    return true;
  }
};

}  // namespace

ConfigReader::ConfigReader(const ConfigTree& tree, std::string path)
    : tree_(&tree), path_(std::move(path)), used_(std::make_shared<std::set<std::string>>()) {
  if (!path_.empty()) {
    const auto node = tree_->at(path_);
    if (node.IsDefined() && !node.IsNull() && !node.IsMap()) {
      throw ConfigError(tree_->source_of(path_), path_, scalar_text(node),
                        "expected a mapping (a section of keys)");
    }
  }
}

std::string ConfigReader::path_of(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

std::string ConfigReader::source_of(const std::string& key) const {
  return tree_->source_of(path_of(key));
}

bool ConfigReader::has(const std::string& key) const {
  const auto n = tree_->at(path_of(key));
  return n.IsDefined();
}

void ConfigReader::mark_used(const std::string& key) const { used_->insert(key); }

void ConfigReader::fail(const std::string& key, const std::string& problem) const {
  const auto n = tree_->at(path_of(key));
  throw ConfigError(source_of(key), path_of(key), scalar_text(n), problem);
}

template <typename T>
T ConfigReader::get(const std::string& key) const {
  used_->insert(key);
  const auto n = tree_->at(path_of(key));
  if (!n.IsDefined() || n.IsNull()) {
    throw ConfigError(source_of(key), path_of(key), scalar_text(n),
                      "missing required value");
  }
  T out{};
  if (!Converter<T>::convert(n, &out)) fail(key, Converter<T>::kExpected);
  return out;
}

template <typename T>
T ConfigReader::get(const std::string& key, const T& fallback) const {
  auto v = get_optional<T>(key);
  return v ? *v : fallback;
}

template <typename T>
std::optional<T> ConfigReader::get_optional(const std::string& key) const {
  used_->insert(key);
  const auto n = tree_->at(path_of(key));
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  T out{};
  if (!Converter<T>::convert(n, &out)) fail(key, Converter<T>::kExpected);
  return out;
}

std::string ConfigReader::get_choice(const std::string& key,
                                     const std::vector<std::string>& choices) const {
  const auto v = get<std::string>(key);
  if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
    fail(key, "expected " + fmt::format("{}", fmt::join(choices, " | ")));
  }
  return v;
}

std::string ConfigReader::get_choice(const std::string& key,
                                     const std::vector<std::string>& choices,
                                     const std::string& fallback) const {
  if (!get_optional<std::string>(key)) return fallback;
  return get_choice(key, choices);
}

ConfigReader ConfigReader::child(const std::string& key) const {
  used_->insert(key);
  return ConfigReader(*tree_, path_of(key));
}

std::vector<std::string> ConfigReader::keys() const {
  std::vector<std::string> out;
  const auto n = path_.empty() ? tree_->root() : tree_->at(path_);
  if (!n.IsMap()) return out;
  for (const auto& kv : n) out.push_back(kv.first.as<std::string>());
  return out;
}

void ConfigReader::finish() const {
  for (const auto& key : keys()) {
    if (used_->count(key) == 0) {
      const auto n = tree_->at(path_of(key));
      throw ConfigError(source_of(key), path_of(key), scalar_text(n), "unknown key");
    }
  }
}

#define SEER_INSTANTIATE(T)                                                              \
  template T ConfigReader::get<T>(const std::string&) const;                             \
  template T ConfigReader::get<T>(const std::string&, const T&) const;                   \
  template std::optional<T> ConfigReader::get_optional<T>(const std::string&) const;
SEER_INSTANTIATE(bool)
SEER_INSTANTIATE(int64_t)
SEER_INSTANTIATE(int)
SEER_INSTANTIATE(double)
SEER_INSTANTIATE(std::string)
SEER_INSTANTIATE(std::vector<int64_t>)
SEER_INSTANTIATE(std::vector<double>)
SEER_INSTANTIATE(std::vector<std::string>)
#undef SEER_INSTANTIATE

}  // namespace seer::config
