// Building a BpeModel from tokenizer.json (tokenizers' serialisation) or GGUF metadata.
#include "core/io/gguf.h"
#include "core/io/json_int.h"
#include "core/io/mapped_file.h"
#include "core/tokenizer/bpe_tokenizer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace seer::tokenizer {
namespace {

using nlohmann::json;

// Appends the regex steps of one tokenizers pre_tokenizer node.
void add_pre_tokenizer(const json& node, BpeModel& m, const std::string& path) {
  if (node.is_null()) return;
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const auto& p : node.at("pretokenizers")) add_pre_tokenizer(p, m, path);
  } else if (type == "ByteLevel") {
    m.add_prefix_space = node.value("add_prefix_space", false);
    if (node.value("use_regex", true)) m.pre_patterns.push_back(kGpt2Pattern);
  } else if (type == "Split") {
    const json& pat = node.at("pattern");
    const std::string behavior = node.value("behavior", "Isolated");
    if (behavior != "Isolated" || node.value("invert", false)) {
      throw io::FormatError(fmt::format("{}: pre_tokenizer Split with behavior '{}' (invert {}) is not "
                                        "supported (expected Isolated, invert false)", path, behavior,
                                        node.value("invert", false)));
    }
    if (pat.contains("Regex")) {
      m.pre_patterns.push_back(pat.at("Regex").get<std::string>());
    } else {
      // A literal string: escape it for PCRE2 with \Q...\E.
      m.pre_patterns.push_back("\\Q" + pat.at("String").get<std::string>() + "\\E");
    }
  } else if (type == "Digits") {
    m.pre_patterns.push_back(node.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
  } else {
    throw io::FormatError(fmt::format("{}: pre_tokenizer type '{}' is not supported (expected ByteLevel, "
                                      "Split, Digits or a Sequence of them)", path, type));
  }
}

std::pair<std::string, std::string> split_merge(const std::string& line, const std::string& path) {
  const size_t sp = line.find(' ', 1);
  if (sp == std::string::npos) throw io::FormatError(fmt::format("{}: malformed merge '{}'", path, line));
  return {line.substr(0, sp), line.substr(sp + 1)};
}

}  // namespace

// Larger than any real vocabulary (Gemma's 262k, byte-level BPEs to ~1M).
constexpr int64_t kMaxVocab = int64_t{1} << 24;

BpeTokenizer BpeTokenizer::from_tokenizer_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw io::FormatError(fmt::format("{}: cannot open tokenizer", path));
  std::stringstream ss;
  ss << in.rdbuf();
  BpeModel m;
  try {
    const json j = json::parse(ss.str());
    const json& model = j.at("model");
    if (model.value("type", "BPE") != "BPE") {
      throw io::FormatError(fmt::format("{}: model.type '{}' is not supported (expected BPE)", path,
                                        model.value("type", "")));
    }
    for (auto it = model.at("vocab").begin(); it != model.at("vocab").end(); ++it) {
      // Ids index the vocabulary table: bounded so that a bad file cannot make it huge.
      const int64_t id = io::json_int(*it, 0, kMaxVocab, path + ": model.vocab['" + it.key() + "']");
      if (id >= static_cast<int64_t>(m.id_to_token.size())) m.id_to_token.resize(id + 1);
      m.id_to_token[id] = it.key();
    }
    for (const auto& mg : model.at("merges")) {
      if (mg.is_string()) {
        m.merges.push_back(split_merge(mg.get<std::string>(), path));
      } else {
        m.merges.emplace_back(mg.at(0).get<std::string>(), mg.at(1).get<std::string>());
      }
    }
    m.ignore_merges = model.value("ignore_merges", false);
    if (j.contains("added_tokens")) {
      for (const auto& a : j.at("added_tokens")) {
        m.added.push_back({a.at("content").get<std::string>(),
                           io::json_int(a.at("id"), 0, kMaxVocab, path + ": added_tokens[].id"),
                           a.value("special", false)});
      }
    }
    if (j.contains("pre_tokenizer")) add_pre_tokenizer(j.at("pre_tokenizer"), m, path);
    const json& post = j.contains("post_processor") ? j.at("post_processor") : json();
    if (post.is_object() && post.value("type", "") == "TemplateProcessing") {
      const json& first = post.at("single").at(0);
      if (first.contains("SpecialToken")) {
        const std::string tok = first.at("SpecialToken").at("id").get<std::string>();
        for (const auto& a : m.added) {
          if (a.content == tok) m.bos_id = a.id;
        }
        m.add_bos = m.bos_id.has_value();
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw io::FormatError(fmt::format("{}: malformed tokenizer.json: {}", path, e.what()));
  }
  return BpeTokenizer(std::move(m));
}

BpeTokenizer BpeTokenizer::from_gguf(const io::GgufFile& g) {
  const std::string kind = g.get_string("tokenizer.ggml.model");
  if (kind != "gpt2") {
    throw io::FormatError(fmt::format("{}: tokenizer.ggml.model '{}' is not supported (expected gpt2, "
                                      "byte-level BPE)", g.path(), kind));
  }
  BpeModel m;
  m.id_to_token = g.at("tokenizer.ggml.tokens").strings;
  for (const auto& line : g.at("tokenizer.ggml.merges").strings) m.merges.push_back(split_merge(line, g.path()));
  if (g.has("tokenizer.ggml.token_type")) {
    const auto& types = g.at("tokenizer.ggml.token_type").ints;
    // llama.cpp token types: 3 = control (special), 4 = user defined (added, not special).
    for (size_t i = 0; i < types.size() && i < m.id_to_token.size(); ++i) {
      if (types[i] == 3 || types[i] == 4) {
        m.added.push_back({m.id_to_token[i], static_cast<int64_t>(i), types[i] == 3});
      }
    }
  }
  const std::string pre = g.has("tokenizer.ggml.pre") ? g.get_string("tokenizer.ggml.pre") : "gpt2";
  try {
    m.pre_patterns = PreTokenizer::patterns_for(pre);
  } catch (const std::invalid_argument& e) {
    throw io::FormatError(fmt::format("{}: tokenizer.ggml.pre: {}", g.path(), e.what()));
  }
  m.ignore_merges = pre == "llama-bpe" || pre == "llama3";
  m.bos_id = g.get_int_optional("tokenizer.ggml.bos_token_id");
  m.eos_id = g.get_int_optional("tokenizer.ggml.eos_token_id");
  m.add_bos = g.has("tokenizer.ggml.add_bos_token") && g.get_int("tokenizer.ggml.add_bos_token") != 0;
  m.add_prefix_space = g.has("tokenizer.ggml.add_space_prefix") && g.get_int("tokenizer.ggml.add_space_prefix") != 0;
  return BpeTokenizer(std::move(m));
}

}  // namespace seer::tokenizer
