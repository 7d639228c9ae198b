// RULER's task definitions as data (configs/benchmarks/ruler/tasks.yaml) and the word lists its
// generators draw from (configs/benchmarks/ruler/words/, wonderwords 2.2.0).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace seer::data {

struct RulerFamily {
  std::string name;               // niah | variable_tracking | ... | qa
  int64_t tokens_to_generate = 0;
  std::string task_template;      // {context}, {query}, {type_needle_v}, {num_v}
  std::string answer_prefix;
  std::string metric;             // string_match_all | string_match_part
};

struct RulerTaskDef {
  std::string name;                           // niah_single_1, vt, ...
  std::string family;
  std::map<std::string, std::string> args;    // scalar args as text
};

struct RulerDefinitions {
  std::string needle;            // "One of the special magic {type_needle_v} for {key} is: {value}."
  std::string repeat_haystack;
  std::map<std::string, RulerFamily> families;
  std::vector<RulerTaskDef> tasks;             // file order
  std::map<std::string, std::string> chat_wrappers;

  const RulerTaskDef& task(const std::string& name) const;   // DataError listing the names
  const RulerFamily& family_of(const RulerTaskDef& task) const;
};

RulerDefinitions load_ruler_definitions(const std::filesystem::path& tasks_yaml);

struct RulerWords {
  std::vector<std::string> nouns, adjectives, verbs;
};
// nounlist.txt, adjectivelist.txt, verblist.txt from `dir` (one word a line).
RulerWords load_ruler_words(const std::filesystem::path& dir);

// Python str.format with named fields only: `{name}` from `fields`, `{{` / `}}` literal.
// Values are inserted as they are (never re-scanned). `what` names the template in errors.
std::string format_named(const std::string& tmpl, const std::map<std::string, std::string>& fields,
                         const std::string& what);

// str.replace(old, new) on every occurrence.
std::string replace_all(std::string text, const std::string& from, const std::string& to);

}  // namespace seer::data
