#include "core/config/override.h"

#include "core/config/config_error.h"

#include <cctype>

namespace seer::config {
namespace {

bool valid_key_path(const std::string& key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  char prev = 0;
  for (char c : key) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' ||
                    c == '.' || c == '/';
    if (!ok || (c == '.' && prev == '.')) return false;
    prev = c;
  }
  return true;
}

}  // namespace

Override parse_override(const std::string& text, const std::string& origin) {
  Override o;
  o.text = text;
  o.origin = origin;
  std::string rest = text;
  if (rest.rfind("++", 0) == 0) {
    o.kind = Override::Kind::kForceAdd;
    rest = rest.substr(2);
  } else if (rest.rfind('+', 0) == 0) {
    o.kind = Override::Kind::kAdd;
    rest = rest.substr(1);
  } else if (rest.rfind('~', 0) == 0) {
    o.kind = Override::Kind::kDelete;
    rest = rest.substr(1);
  }
  const auto eq = rest.find('=');
  if (eq == std::string::npos) {
    if (o.kind != Override::Kind::kDelete) {
      throw ConfigError(origin, text, "",
                        "expected key=value, +key=value, ++key=value, ~key or group=option");
    }
    o.key = rest;
  } else {
    o.key = rest.substr(0, eq);
    o.value = rest.substr(eq + 1);
    o.has_value = true;
  }
  if (!valid_key_path(o.key)) {
    throw ConfigError(origin, text, o.key,
                      "not a valid key path (letters, digits, '_', '-' separated by '.')");
  }
  return o;
}

std::vector<Override> parse_overrides(const std::vector<std::string>& texts,
                                      const std::string& origin) {
  std::vector<Override> out;
  out.reserve(texts.size());
  for (const auto& t : texts) out.push_back(parse_override(t, origin));
  return out;
}

}  // namespace seer::config
