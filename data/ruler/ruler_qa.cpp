// SQuAD / HotpotQA readers for RULER's qa tasks (read_squad / read_hotpotqa in RULER's qa.py).
#include "data/ruler/ruler_qa.h"

#include "data/data_error.h"
#include "data/text_file.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace seer::data {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json parse_file(const fs::path& path) {
  try {
    return json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    throw DataError(fmt::format("{}: invalid JSON: {}", path.string(), e.what()));
  }
}

// Sorted unique documents and their ids (Python: sorted(set(docs))).
std::map<std::string, int64_t> index_docs(const std::set<std::string>& unique,
                                          std::vector<std::string>& docs) {
  std::map<std::string, int64_t> ids;
  for (const auto& d : unique) {
    ids[d] = static_cast<int64_t>(docs.size());
    docs.push_back(d);
  }
  return ids;
}

}  // namespace

RulerQaData load_ruler_squad(const fs::path& path) {
  const json root = parse_file(path);
  try {
    std::set<std::string> unique;
    for (const auto& d : root.at("data")) {
      for (const auto& p : d.at("paragraphs")) unique.insert(p.at("context").get<std::string>());
    }
    RulerQaData out;
    const auto ids = index_docs(unique, out.docs);
    for (const auto& d : root.at("data")) {
      std::vector<int64_t> article;
      for (const auto& p : d.at("paragraphs")) article.push_back(ids.at(p.at("context")));
      for (const auto& p : d.at("paragraphs")) {
        const int64_t doc = ids.at(p.at("context"));
        for (const auto& q : p.at("qas")) {
          if (q.value("is_impossible", false)) continue;
          RulerQuestion question;
          question.query = q.at("question").get<std::string>();
          for (const auto& a : q.at("answers")) question.outputs.push_back(a.at("text"));
          question.context = {doc};
          for (int64_t other : article) {
            if (other != doc) question.more_context.push_back(other);
          }
          out.questions.push_back(std::move(question));
        }
      }
    }
    if (out.questions.empty()) throw DataError(fmt::format("{}: no answerable questions", path.string()));
    return out;
  } catch (const json::exception& e) {
    throw DataError(fmt::format("{}: not SQuAD layout (data[].paragraphs[].qas[]): {}",
                                path.string(), e.what()));
  }
}

RulerQaData load_ruler_hotpotqa(const fs::path& path) {
  const json root = parse_file(path);
  auto doc_text = [](const json& title_and_sentences) {
    std::string text = title_and_sentences.at(0).get<std::string>() + "\n";
    for (const auto& s : title_and_sentences.at(1)) text += s.get<std::string>();
    return text;
  };
  try {
    std::set<std::string> unique;
    for (const auto& d : root) {
      for (const auto& c : d.at("context")) unique.insert(doc_text(c));
    }
    RulerQaData out;
    const auto ids = index_docs(unique, out.docs);
    for (const auto& d : root) {
      RulerQuestion question;
      question.query = d.at("question").get<std::string>();
      question.outputs = {d.at("answer").get<std::string>()};
      for (const auto& c : d.at("context")) question.context.push_back(ids.at(doc_text(c)));
      out.questions.push_back(std::move(question));
    }
    if (out.questions.empty()) throw DataError(fmt::format("{}: no questions", path.string()));
    return out;
  } catch (const json::exception& e) {
    throw DataError(fmt::format("{}: not HotpotQA layout ([{{question, answer, context}}]): {}",
                                path.string(), e.what()));
  }
}

}  // namespace seer::data
