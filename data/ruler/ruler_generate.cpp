// RULER's synthetic task generators and the length search (see ruler_generate.h).
#include "data/ruler/ruler_generate.h"

#include "data/data_error.h"
#include "data/metrics/py_string.h"
#include "data/ruler/ruler_random.h"
#include "data/text_file.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <set>

namespace seer::data {

namespace {

constexpr int64_t kUnbounded = int64_t{1} << 40;

uint64_t mix_seed(uint64_t seed, const std::string& task, int64_t index) {
  uint64_t h = seed ^ 0x9E3779B97F4A7C15ULL;
  for (unsigned char c : task) h = (h ^ c) * 0x100000001B3ULL;
  h ^= static_cast<uint64_t>(index) + 0x9E3779B97F4A7C15ULL + (h << 6) + (h >> 2);
  // splitmix64 finaliser
  h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ULL;
  h = (h ^ (h >> 27)) * 0x94D049BB133111EBULL;
  return h ^ (h >> 31);
}

int64_t arg_int(const RulerTaskDef& t, const std::string& key) {
  const auto it = t.args.find(key);
  if (it == t.args.end()) throw DataError(fmt::format("RULER task '{}': no arg '{}'", t.name, key));
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    throw DataError(fmt::format("RULER task '{}': arg {} = '{}': expected an integer", t.name, key,
                                it->second));
  }
}

std::string arg_str(const RulerTaskDef& t, const std::string& key) {
  const auto it = t.args.find(key);
  if (it == t.args.end()) throw DataError(fmt::format("RULER task '{}': no arg '{}'", t.name, key));
  return it->second;
}

// Essay text: {"text": ...} JSON (RULER's PaulGrahamEssays.json) or plain text; words as
// re.sub(r"\s+", " ", text).split(" ").
std::vector<std::string> load_essay_words(const std::string& path) {
  std::string text = read_text_file(path);
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) {
    try {
      text = nlohmann::json::parse(text).at("text").get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      throw DataError(fmt::format("{}: expected a JSON object with a string 'text': {}", path,
                                  e.what()));
    }
  }
  std::vector<std::string> words;
  for (const auto& w : py::split(py::decode(text))) words.push_back(py::encode(w));
  if (words.empty()) throw DataError(fmt::format("{}: essay has no words", path));
  return words;
}

// Sentences of `text`: cut after '.', '!' or '?' followed by whitespace (nltk punkt stand-in).
std::vector<std::string> split_sentences(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    const char c = text[i];
    if ((c == '.' || c == '!' || c == '?') && (text[i + 1] == ' ' || text[i + 1] == '\n')) {
      out.push_back(text.substr(start, i + 1 - start));
      start = i + 2;
    }
  }
  if (start < text.size()) out.push_back(text.substr(start));
  return out;
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) out += (i > 0 ? sep : "") + parts[i];
  return out;
}

double riemann_zeta(double s) {   // scipy.special.zeta(s) for s > 1, to ~1e-12
  const int n = 10000;
  double sum = 0.0;
  for (int k = n; k >= 1; --k) sum += std::pow(k, -s);
  return sum + std::pow(n, 1.0 - s) / (s - 1.0) - 0.5 * std::pow(n, -s);
}

}  // namespace

RulerGenerator::RulerGenerator(RulerDefinitions defs, RulerWords words, RulerResources resources,
                               const TextTokenizer& tokenizer, std::string chat_wrapper)
    : defs_(std::move(defs)),
      words_(std::move(words)),
      resources_(std::move(resources)),
      tokenizer_(tokenizer),
      chat_wrapper_(std::move(chat_wrapper)) {
  if (defs_.chat_wrappers.count(chat_wrapper_) == 0) {
    std::string known;
    for (const auto& [name, w] : defs_.chat_wrappers) known += (known.empty() ? "" : " | ") + name;
    throw DataError(fmt::format("RULER chat wrapper '{}': unknown; expected {}", chat_wrapper_, known));
  }
  if (!resources_.essay_path.empty()) essay_words_ = load_essay_words(resources_.essay_path);
  if (!resources_.squad_path.empty()) {
    squad_ = std::make_shared<RulerQaData>(load_ruler_squad(resources_.squad_path));
  }
  if (!resources_.hotpotqa_path.empty()) {
    hotpotqa_ = std::make_shared<RulerQaData>(load_ruler_hotpotqa(resources_.hotpotqa_path));
  }
}

std::optional<std::string> RulerGenerator::unavailable_reason(const std::string& name) const {
  const RulerTaskDef& t = defs_.task(name);
  if (t.family == "qa") {
    const std::string dataset = arg_str(t, "dataset");
    if (dataset == "squad" && !squad_) {
      return fmt::format("{} needs SQuAD (set ruler.squad_path to a SQuAD v2 dev JSON)", name);
    }
    if (dataset == "hotpotqa" && !hotpotqa_) {
      return fmt::format("{} needs HotpotQA (set ruler.hotpotqa_path to a HotpotQA dev JSON)", name);
    }
  }
  if (t.family == "niah" && arg_str(t, "type_haystack") == "essay" && essay_words_.empty()) {
    return fmt::format("{} needs an essay haystack (set ruler.essay_path, e.g. "
                       "PaulGrahamEssays.json or a .txt book)", name);
  }
  return std::nullopt;
}

std::string RulerGenerator::wrapped_template(const RulerFamily& family) const {
  return format_named(defs_.chat_wrappers.at(chat_wrapper_), {{"task_template", family.task_template}},
                      "chat wrapper " + chat_wrapper_) +
         family.answer_prefix;
}

RulerGenerator::Instance RulerGenerator::finish(const std::string& full_template,
                                                const std::string& prefix_template,
                                                const std::map<std::string, std::string>& fields,
                                                std::vector<std::string> outputs) const {
  Instance out;
  out.input = format_named(full_template, fields, "RULER template");
  out.answer_prefix = format_named(prefix_template, fields, "RULER answer prefix");
  out.outputs = std::move(outputs);
  return out;
}

RulerGenerator::Instance RulerGenerator::make_niah(const RulerTaskDef& t, int64_t size,
                                                   uint64_t seed) const {
  RulerRandom rng(seed);
  const RulerFamily& family = defs_.family_of(t);
  const std::string haystack_kind = arg_str(t, "type_haystack");
  const std::string type_k = arg_str(t, "type_needle_k");
  const std::string type_v = arg_str(t, "type_needle_v");
  const int64_t num_q = arg_int(t, "num_needle_q");
  const int64_t num_k = std::max(arg_int(t, "num_needle_k"), num_q);   // as RULER's niah.py
  const int64_t num_v = arg_int(t, "num_needle_v");
  auto random_of = [&](const std::string& kind) -> std::string {
    if (kind == "words") return rng.choice(words_.adjectives) + "-" + rng.choice(words_.nouns);
    if (kind == "numbers") return std::to_string(rng.randint(1000000, 9999999));
    if (kind == "uuids") return rng.uuid4();
    throw DataError(fmt::format("RULER task '{}': needle type '{}': expected words | numbers | "
                                "uuids", t.name, kind));
  };
  std::vector<std::string> keys, needles;
  std::vector<std::vector<std::string>> values;
  for (int64_t k = 0; k < num_k; ++k) {
    keys.push_back(random_of(type_k));
    values.emplace_back();
    for (int64_t v = 0; v < num_v; ++v) {
      values.back().push_back(random_of(type_v));
      needles.push_back(format_named(defs_.needle, {{"type_needle_v", type_v}, {"key", keys.back()},
                                                    {"value", values.back().back()}}, "needle"));
    }
  }
  rng.shuffle(needles);
  const auto indices = rng.sample(num_k, num_q);

  std::string context;
  if (haystack_kind == "essay") {
    std::vector<std::string> words;
    for (int64_t i = 0; i < size; ++i) words.push_back(essay_words_[i % essay_words_.size()]);
    const auto sentences = split_sentences(py::encode(py::strip(py::decode(join(words, " ")))));
    const int64_t n = static_cast<int64_t>(sentences.size());
    std::vector<int64_t> positions;
    for (int64_t d : rng.sample(40, static_cast<int64_t>(needles.size()))) {
      const double depth = std::nearbyint(100.0 * static_cast<double>(d) / 39.0);   // DEPTHS
      positions.push_back(static_cast<int64_t>(static_cast<double>(n) * (depth / 100)));
    }
    std::sort(positions.begin(), positions.end());
    positions.insert(positions.begin(), 0);
    positions.push_back(n);
    std::vector<std::string> parts;
    for (size_t i = 1; i < positions.size(); ++i) {
      parts.push_back(join(std::vector<std::string>(sentences.begin() + positions[i - 1],
                                                    sentences.begin() + positions[i]), " "));
      if (i - 1 < needles.size()) parts.push_back(needles[i - 1]);
    }
    context = join(parts, " ");
  } else {
    std::vector<std::string> sentences;
    for (int64_t i = 0; i < size; ++i) {
      if (haystack_kind == "repeat") {
        sentences.push_back(defs_.repeat_haystack);
      } else if (haystack_kind == "needle") {
        sentences.push_back(format_named(defs_.needle, {{"type_needle_v", type_v},
                                                        {"key", random_of(type_k)},
                                                        {"value", random_of(type_v)}}, "needle"));
      } else {
        throw DataError(fmt::format("RULER task '{}': type_haystack '{}': expected repeat | essay "
                                    "| needle", t.name, haystack_kind));
      }
    }
    auto where = rng.sample(size, static_cast<int64_t>(needles.size()));
    std::sort(where.rbegin(), where.rend());
    for (size_t i = 0; i < where.size(); ++i) {
      sentences.insert(sentences.begin() + where[i], needles[i]);
    }
    context = join(sentences, "\n");
  }

  std::vector<std::string> queries, answers;
  for (int64_t i : indices) {
    queries.push_back(keys[i]);
    answers.insert(answers.end(), values[i].begin(), values[i].end());
  }
  std::string query = queries.back();
  if (queries.size() > 1) {
    query = join(std::vector<std::string>(queries.begin(), queries.end() - 1), ", ") + ", and " +
            queries.back();
  }
  std::string full = wrapped_template(family), prefix = family.answer_prefix;
  std::string type_word = type_v;
  if (num_q * num_v == 1) {   // RULER's singular rewrite, applied to the whole template
    for (auto* text : {&full, &prefix}) {
      *text = replace_all(*text, "Some", "A");
      *text = replace_all(*text, "are all", "is");
      *text = replace_all(*text, "are", "is");
      *text = replace_all(*text, "answers", "answer");
    }
    type_word = type_v.substr(0, type_v.size() - 1);
  }
  return finish(full, prefix, {{"type_needle_v", type_word}, {"context", context}, {"query", query}},
                answers);
}

RulerGenerator::Instance RulerGenerator::make_vt(const RulerTaskDef& t, int64_t size,
                                                 uint64_t seed) const {
  RulerRandom rng(seed);
  const RulerFamily& family = defs_.family_of(t);
  const int64_t num_chains = arg_int(t, "num_chains");
  const int64_t num_hops = arg_int(t, "num_hops");
  const std::string noise = defs_.repeat_haystack + "\n";
  // One instance: (context, value, first chain's variables).
  auto instance = [&](int64_t num_noises) {
    std::vector<std::string> vars;
    std::set<std::string> seen;
    while (static_cast<int64_t>(vars.size()) < num_chains * (num_hops + 1)) {
      const std::string v = rng.letters("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 5);
      if (seen.insert(v).second) vars.push_back(v);
    }
    std::vector<std::vector<std::string>> chains;
    for (int64_t c = 0; c < num_chains; ++c) {
      const auto* v = &vars[static_cast<size_t>(c * (num_hops + 1))];
      std::vector<std::string> chain = {fmt::format("VAR {} = {}", v[0], rng.randint(10000, 99999))};
      for (int64_t j = 0; j < num_hops; ++j) chain.push_back(fmt::format("VAR {} = VAR {} ", v[j + 1], v[j]));
      chains.push_back(chain);
    }
    std::vector<std::string> sentences(static_cast<size_t>(num_noises), noise);
    for (const auto& chain : chains) {
      auto positions = rng.sample(static_cast<int64_t>(sentences.size()),
                                  static_cast<int64_t>(chain.size()));
      std::sort(positions.begin(), positions.end());
      for (size_t j = 0; j < chain.size(); ++j) {
        sentences.insert(sentences.begin() + positions[j] + static_cast<int64_t>(j), chain[j]);
      }
    }
    const std::string context = replace_all(join(sentences, " "), ". \n", ".\n");
    const std::string value = py::encode(py::strip(py::decode(
        chains[0][0].substr(chains[0][0].rfind('=') + 1))));
    return std::make_tuple(context, value,
                           std::vector<std::string>(vars.begin(), vars.begin() + num_hops + 1));
  };
  const auto [example_context, example_value, example_vars] = instance(5);
  const auto [context, value, answer_vars] = instance(size);
  const std::map<std::string, std::string> example_fields = {
      {"context", example_context}, {"query", example_value}, {"num_v", std::to_string(num_hops + 1)}};
  const std::string example =
      format_named(family.task_template + family.answer_prefix, example_fields, "RULER vt example") +
      join(example_vars, " ");
  Instance out = finish(wrapped_template(family), family.answer_prefix,
                        {{"context", context}, {"query", value}, {"num_v", std::to_string(num_hops + 1)}},
                        answer_vars);
  // RULER puts the one-shot example between the chat wrapper's head and the task.
  const size_t cutoff = out.input.find(family.task_template.substr(0, 20));
  if (cutoff != std::string::npos) out.input.insert(cutoff, " " + example + "\n\n");
  return out;
}

RulerGenerator::Instance RulerGenerator::make_cwe(const RulerTaskDef& t, int64_t size, uint64_t seed,
                                                  int64_t max_seq_length) const {
  RulerRandom rng(seed);
  const RulerFamily& family = defs_.family_of(t);
  std::set<std::string> unique(words_.nouns.begin(), words_.nouns.end());
  unique.insert(words_.adjectives.begin(), words_.adjectives.end());
  unique.insert(words_.verbs.begin(), words_.verbs.end());
  const std::vector<std::string> vocabulary(unique.begin(), unique.end());
  const int64_t num_cw = arg_int(t, "num_cw");
  auto example = [&](int64_t num_words, int64_t common_repeats, int64_t uncommon_repeats) {
    std::vector<std::string> chosen;
    for (int64_t i : rng.sample(static_cast<int64_t>(vocabulary.size()), num_words)) {
      chosen.push_back(vocabulary[static_cast<size_t>(i)]);
    }
    std::vector<std::string> list;
    for (int64_t r = 0; r < common_repeats; ++r) list.insert(list.end(), chosen.begin(), chosen.begin() + num_cw);
    for (int64_t r = 0; r < uncommon_repeats; ++r) list.insert(list.end(), chosen.begin() + num_cw, chosen.end());
    rng.shuffle(list);
    std::vector<std::string> numbered;
    for (size_t i = 0; i < list.size(); ++i) numbered.push_back(fmt::format("{}. {}", i + 1, list[i]));
    return std::make_pair(join(numbered, " "),
                          std::vector<std::string>(chosen.begin(), chosen.begin() + num_cw));
  };
  const bool short_context = max_seq_length < 4096;
  const auto [example_context, example_answer] = short_context ? example(20, 3, 1) : example(40, 10, 3);
  const auto [context, answer] = short_context
                                     ? example(size, 6, 1)
                                     : example(size, arg_int(t, "freq_cw"), arg_int(t, "freq_ucw"));
  const std::string full = wrapped_template(family);
  std::vector<std::string> numbered_answer;
  for (size_t i = 0; i < example_answer.size(); ++i) {
    numbered_answer.push_back(fmt::format("{}. {}", i + 1, example_answer[i]));
  }
  Instance out = finish(full, family.answer_prefix, {{"context", context}, {"query", ""}}, answer);
  out.input = format_named(full, {{"context", example_context}, {"query", ""}}, "RULER cwe example") +
              join(numbered_answer, " ") + "\n" + out.input;
  return out;
}

RulerGenerator::Instance RulerGenerator::make_fwe(const RulerTaskDef& t, int64_t size,
                                                  uint64_t seed) const {
  RulerRandom rng(seed);
  const RulerFamily& family = defs_.family_of(t);
  const double alpha = std::stod(arg_str(t, "alpha"));
  std::set<std::string> unique;
  while (unique.size() < 2000) unique.insert(rng.letters("abcdefghijklmnopqrstuvwxyz", 6));
  std::vector<std::string> vocab(unique.begin(), unique.end());
  rng.shuffle(vocab);
  vocab[0] = "...";   // the top-ranked word is noise
  const double zeta = riemann_zeta(alpha);
  std::vector<std::string> sampled;
  for (size_t k = 0; k < vocab.size(); ++k) {
    const auto count = static_cast<int64_t>(static_cast<double>(size) *
                                            std::pow(static_cast<double>(k + 1), -alpha) / zeta);
    for (int64_t c = 0; c < count; ++c) sampled.push_back(vocab[k]);
  }
  rng.shuffle(sampled);
  return finish(wrapped_template(family), family.answer_prefix,
                {{"context", join(sampled, " ")}, {"query", ""}},
                std::vector<std::string>(vocab.begin() + 1, vocab.begin() + 4));
}

RulerGenerator::Instance RulerGenerator::make_qa(const RulerTaskDef& t, int64_t size, int64_t index,
                                                 uint64_t seed) const {
  RulerRandom rng(seed);
  const RulerFamily& family = defs_.family_of(t);
  const RulerQaData& data = arg_str(t, "dataset") == "squad" ? *squad_ : *hotpotqa_;
  const RulerQuestion& q = data.questions[static_cast<size_t>(index) % data.questions.size()];
  const int64_t total = static_cast<int64_t>(data.docs.size());
  size = std::max<int64_t>(size, static_cast<int64_t>(q.context.size()));   // gold docs always in
  std::vector<int64_t> chosen = q.context;
  if (size < total) {
    const int64_t gold = static_cast<int64_t>(q.context.size());
    const int64_t more = static_cast<int64_t>(q.more_context.size());
    if (size - gold > more) {
      chosen.insert(chosen.end(), q.more_context.begin(), q.more_context.end());
      std::set<int64_t> taken(chosen.begin(), chosen.end());
      std::vector<int64_t> addition;
      for (int64_t i = 0; i < total; ++i) {
        if (taken.count(i) == 0) addition.push_back(i);
      }
      for (int64_t i : rng.sample(static_cast<int64_t>(addition.size()),
                                  std::max<int64_t>(0, size - gold - more))) {
        chosen.push_back(addition[static_cast<size_t>(i)]);
      }
    } else {
      for (int64_t i : rng.sample(more, size - gold)) chosen.push_back(q.more_context[static_cast<size_t>(i)]);
    }
  } else {
    chosen.clear();
    for (int64_t i = 0; i < total; ++i) chosen.push_back(i);
  }
  rng.shuffle(chosen);
  std::vector<std::string> docs;
  for (size_t i = 0; i < chosen.size(); ++i) {
    docs.push_back(fmt::format("Document {}:\n{}", i + 1, data.docs[static_cast<size_t>(chosen[i])]));
  }
  return finish(wrapped_template(family), family.answer_prefix,
                {{"context", join(docs, "\n\n")}, {"query", q.query}}, q.outputs);
}

RulerGenerator::Instance RulerGenerator::make(const RulerTaskDef& t, int64_t size, int64_t index,
                                              uint64_t seed, int64_t max_seq_length) const {
  if (t.family == "niah") return make_niah(t, size, seed);
  if (t.family == "variable_tracking") return make_vt(t, size, seed);
  if (t.family == "common_words_extraction") return make_cwe(t, size, seed, max_seq_length);
  if (t.family == "freq_words_extraction") return make_fwe(t, size, seed);
  if (t.family == "qa") return make_qa(t, size, index, seed);
  throw DataError(fmt::format("RULER task '{}': no generator for family '{}'", t.name, t.family));
}

int64_t RulerGenerator::min_size(const RulerTaskDef& t) const {
  if (t.family == "niah") {
    const int64_t needles = std::max(arg_int(t, "num_needle_k"), arg_int(t, "num_needle_q")) *
                            arg_int(t, "num_needle_v");
    return arg_str(t, "type_haystack") == "essay" ? 1 : needles;
  }
  if (t.family == "variable_tracking") return arg_int(t, "num_hops") + 1;
  if (t.family == "common_words_extraction") return arg_int(t, "num_cw") + 1;
  return 1;
}

int64_t RulerGenerator::max_size(const RulerTaskDef& t, int64_t index) const {
  if (t.family == "common_words_extraction") {
    std::set<std::string> unique(words_.nouns.begin(), words_.nouns.end());
    unique.insert(words_.adjectives.begin(), words_.adjectives.end());
    unique.insert(words_.verbs.begin(), words_.verbs.end());
    return static_cast<int64_t>(unique.size());
  }
  if (t.family == "qa") {
    const RulerQaData& data = arg_str(t, "dataset") == "squad" ? *squad_ : *hotpotqa_;
    return static_cast<int64_t>(data.docs.size());
  }
  return kUnbounded;
}

int64_t RulerGenerator::fit_size(const RulerTaskDef& t, int64_t index, uint64_t seed,
                                 int64_t max_seq_length, int64_t guess, int64_t* tokens) const {
  const int64_t budget = max_seq_length - defs_.family_of(t).tokens_to_generate;
  auto fits = [&](int64_t size, int64_t* count) {
    *count = tokenizer_.count(make(t, size, index, seed, max_seq_length).input);
    return *count <= budget;
  };
  const int64_t lo_bound = min_size(t), hi_bound = max_size(t, index);
  int64_t count = 0;
  if (!fits(lo_bound, &count)) {
    throw DataError(fmt::format("RULER task '{}': the smallest instance has {} tokens, over "
                                "max_seq_length {} - tokens_to_generate {}", t.name, count,
                                max_seq_length, defs_.family_of(t).tokens_to_generate));
  }
  // Every unit of size adds at least a token, so no fitting size exceeds the budget; this also
  // keeps the search from building absurd prompts.
  const int64_t hi_cap = std::min(hi_bound, budget + 1);
  int64_t lo = lo_bound, lo_count = count;   // fits
  int64_t hi = -1;                           // smallest known size that does not fit
  // Start at the previous sample's size, gallop up from the largest fitting size, then bisect.
  const int64_t start = std::clamp(guess, lo_bound, hi_cap);
  if (start > lo) {
    if (fits(start, &count)) {
      lo = start, lo_count = count;
    } else {
      hi = start;
    }
  }
  for (int64_t step = std::max<int64_t>(1, lo / 64); hi < 0; step *= 2) {
    const int64_t candidate = lo + step;
    if (candidate > hi_cap) {
      hi = hi_cap + 1;
    } else if (fits(candidate, &count)) {
      lo = candidate, lo_count = count;
    } else {
      hi = candidate;
    }
  }
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (fits(mid, &count)) {
      lo = mid, lo_count = count;
    } else {
      hi = mid;
    }
  }
  *tokens = lo_count;
  return lo;
}

std::vector<RulerSample> RulerGenerator::generate(const std::string& name, int64_t max_seq_length,
                                                  int64_t num_samples, uint64_t seed) const {
  if (const auto why = unavailable_reason(name)) throw DataError("RULER: " + *why);
  const RulerTaskDef& t = defs_.task(name);
  const RulerFamily& family = defs_.family_of(t);
  std::vector<RulerSample> samples;
  int64_t guess = 0;
  for (int64_t i = 0; i < num_samples; ++i) {
    const uint64_t sample_seed = mix_seed(seed, name, i);
    int64_t tokens = 0;
    const int64_t size = fit_size(t, i, sample_seed, max_seq_length, guess, &tokens);
    guess = size;
    Instance inst = make(t, size, i, sample_seed, max_seq_length);
    RulerSample s;
    s.task = name;
    s.index = i;
    s.input = std::move(inst.input);
    s.answer_prefix = std::move(inst.answer_prefix);
    s.outputs = std::move(inst.outputs);
    s.tokens_to_generate = family.tokens_to_generate;
    s.length = tokens + family.tokens_to_generate;
    s.max_seq_length = max_seq_length;
    s.size = size;
    s.metric = family.metric;
    samples.push_back(std::move(s));
  }
  return samples;
}

}  // namespace seer::data
