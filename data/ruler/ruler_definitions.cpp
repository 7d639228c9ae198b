// Reads RULER's tasks.yaml and word lists (see ruler_definitions.h).
#include "data/ruler/ruler_definitions.h"

#include "data/data_error.h"
#include "data/text_file.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <sstream>

namespace seer::data {

namespace fs = std::filesystem;

namespace {

std::string required_string(const YAML::Node& node, const std::string& key, const fs::path& file,
                            const std::string& where) {
  const YAML::Node v = node[key];
  if (!v.IsDefined() || !v.IsScalar()) {
    throw DataError(fmt::format("{}: {}.{}: missing or not a string", file.string(), where, key));
  }
  return v.as<std::string>();
}

std::vector<std::string> read_word_list(const fs::path& path) {
  std::istringstream in(read_text_file(path));
  std::vector<std::string> words;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) words.push_back(line);
  }
  if (words.empty()) throw DataError(fmt::format("{}: no words", path.string()));
  return words;
}

}  // namespace

const RulerTaskDef& RulerDefinitions::task(const std::string& name) const {
  for (const auto& t : tasks) {
    if (t.name == name) return t;
  }
  std::string known;
  for (const auto& t : tasks) known += (known.empty() ? "" : " | ") + t.name;
  throw DataError(fmt::format("RULER task '{}': unknown; expected {}", name, known));
}

const RulerFamily& RulerDefinitions::family_of(const RulerTaskDef& t) const {
  const auto it = families.find(t.family);
  if (it == families.end()) {
    throw DataError(fmt::format("RULER task '{}': unknown family '{}'", t.name, t.family));
  }
  return it->second;
}

RulerDefinitions load_ruler_definitions(const fs::path& tasks_yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(read_text_file(tasks_yaml));
  } catch (const YAML::Exception& e) {
    throw DataError(fmt::format("{}: invalid YAML: {}", tasks_yaml.string(), e.what()));
  }
  RulerDefinitions defs;
  defs.needle = required_string(root["niah"], "needle", tasks_yaml, "niah");
  defs.repeat_haystack = required_string(root["niah"], "repeat_haystack", tasks_yaml, "niah");
  for (const auto& kv : root["task_families"]) {
    RulerFamily f;
    f.name = kv.first.as<std::string>();
    const std::string where = "task_families." + f.name;
    f.tokens_to_generate = kv.second["tokens_to_generate"].as<int64_t>();
    f.task_template = required_string(kv.second, "template", tasks_yaml, where);
    f.answer_prefix = required_string(kv.second, "answer_prefix", tasks_yaml, where);
    f.metric = required_string(kv.second, "metric", tasks_yaml, where);
    if (f.metric != "string_match_all" && f.metric != "string_match_part") {
      throw DataError(fmt::format("{}: {}.metric = '{}': expected string_match_all | "
                                  "string_match_part", tasks_yaml.string(), where, f.metric));
    }
    defs.families[f.name] = f;
  }
  for (const auto& kv : root["tasks"]) {
    RulerTaskDef t;
    t.name = kv.first.as<std::string>();
    t.family = required_string(kv.second, "task", tasks_yaml, "tasks." + t.name);
    for (const auto& arg : kv.second["args"]) {
      t.args[arg.first.as<std::string>()] = arg.second.as<std::string>();
    }
    defs.tasks.push_back(t);
    defs.family_of(defs.tasks.back());   // fail early on a dangling family
  }
  for (const auto& kv : root["chat_wrappers"]) {
    defs.chat_wrappers[kv.first.as<std::string>()] = kv.second.as<std::string>();
  }
  if (defs.tasks.empty()) throw DataError(fmt::format("{}: no tasks", tasks_yaml.string()));
  return defs;
}

RulerWords load_ruler_words(const fs::path& dir) {
  return RulerWords{read_word_list(dir / "nounlist.txt"), read_word_list(dir / "adjectivelist.txt"),
                    read_word_list(dir / "verblist.txt")};
}

std::string format_named(const std::string& t, const std::map<std::string, std::string>& fields,
                         const std::string& what) {
  std::string out;
  out.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if ((c == '{' || c == '}') && i + 1 < t.size() && t[i + 1] == c) {
      out.push_back(c);
      ++i;
    } else if (c == '{') {
      const size_t close = t.find('}', i);
      if (close == std::string::npos) throw DataError(fmt::format("{}: unmatched '{{'", what));
      const std::string name = t.substr(i + 1, close - i - 1);
      const auto it = fields.find(name);
      if (it == fields.end()) throw DataError(fmt::format("{}: no value for '{{{}}}'", what, name));
      out += it->second;
      i = close;
    } else if (c == '}') {
      throw DataError(fmt::format("{}: single '}}'", what));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

}  // namespace seer::data
