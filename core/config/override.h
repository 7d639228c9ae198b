// Command-line overrides in Hydra's grammar:
//   key.sub=value    set an existing key (value parsed as YAML: 1, 0.5, true, [1, 2], null, text)
//   +key.sub=value   add a key that does not exist yet
//   ++key.sub=value  add or set
//   ~key.sub         delete a key (or, for a group name, drop that group from the defaults)
//   group=option     choose another file of a config group (configs/<group>/<option>.yaml)
//   +group=option    add a group that the experiment's defaults do not list
#pragma once

#include <string>
#include <vector>

namespace seer::config {

struct Override {
  enum class Kind { kSet, kAdd, kForceAdd, kDelete };
  Kind kind = Kind::kSet;
  std::string key;      // dotted path
  std::string value;    // raw text after '=' (empty for delete)
  bool has_value = false;
  std::string text;     // the override as typed, for messages
  std::string origin = "command line";   // where it was written, for messages and key sources
};

// Throws ConfigError ("<origin>: <text>: ...") for malformed overrides.
Override parse_override(const std::string& text, const std::string& origin = "command line");
std::vector<Override> parse_overrides(const std::vector<std::string>& texts,
                                      const std::string& origin = "command line");

}  // namespace seer::config
