// LongBench JSONL reader, templates and middle truncation (see longbench_dataset.h).
#include "data/longbench/longbench_dataset.h"

#include "data/data_error.h"
#include "data/text_file.h"

#include <fmt/format.h>

namespace seer::data {

namespace fs = std::filesystem;

namespace {

std::string base_name(const std::string& dataset) {
  if (dataset.size() > 2 && dataset.compare(dataset.size() - 2, 2, "_e") == 0) {
    return dataset.substr(0, dataset.size() - 2);
  }
  return dataset;
}

std::string string_field(const fs::path& path, int64_t line, const nlohmann::json& record,
                         const char* key, bool required) {
  const auto it = record.find(key);
  if (it == record.end() || it->is_null()) {
    if (!required) return "";
    throw DataError(fmt::format("{}:{}: no key '{}'", path.string(), line, key));
  }
  if (!it->is_string()) {
    throw DataError(fmt::format("{}:{}: key '{}' is {}, expected a string", path.string(), line,
                                key, it->type_name()));
  }
  return it->get<std::string>();
}

std::vector<std::string> string_list(const fs::path& path, int64_t line,
                                     const nlohmann::json& record, const char* key, bool required) {
  const auto it = record.find(key);
  if (it == record.end() || it->is_null()) {
    if (!required) return {};
    throw DataError(fmt::format("{}:{}: no key '{}'", path.string(), line, key));
  }
  if (!it->is_array()) {
    throw DataError(fmt::format("{}:{}: key '{}' is {}, expected a list of strings",
                                path.string(), line, key, it->type_name()));
  }
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string()) {
      throw DataError(fmt::format("{}:{}: key '{}' holds a {}, expected strings", path.string(),
                                  line, key, v.type_name()));
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

const nlohmann::json& read_json_object(const fs::path& path, nlohmann::json& storage) {
  try {
    storage = nlohmann::json::parse(read_text_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw DataError(fmt::format("{}: invalid JSON: {}", path.string(), e.what()));
  }
  if (!storage.is_object()) throw DataError(fmt::format("{}: expected a JSON object", path.string()));
  return storage;
}

}  // namespace

std::vector<LongBenchSample> load_longbench_jsonl(const fs::path& path, int64_t max_samples) {
  std::vector<LongBenchSample> samples;
  for_each_jsonl_record(path, [&](int64_t line, const nlohmann::json& record) {
    LongBenchSample s;
    s.input = string_field(path, line, record, "input", true);
    s.context = string_field(path, line, record, "context", true);
    s.answers = string_list(path, line, record, "answers", true);
    s.all_classes = string_list(path, line, record, "all_classes", false);
    s.dataset = string_field(path, line, record, "dataset", false);
    s.id = string_field(path, line, record, "_id", false);
    const auto length = record.find("length");
    if (length == record.end() || !length->is_number_integer()) {
      throw DataError(fmt::format("{}:{}: key 'length' missing or not an integer", path.string(),
                                  line));
    }
    s.length = length->get<int64_t>();
    s.record = record;
    samples.push_back(std::move(s));
    return max_samples <= 0 || static_cast<int64_t>(samples.size()) < max_samples;
  });
  return samples;
}

LongBenchTask load_longbench_task(const fs::path& definitions_dir, const std::string& dataset) {
  const std::string name = base_name(dataset);
  nlohmann::json prompts_storage, maxlen_storage;
  const fs::path prompts_path = definitions_dir / "dataset2prompt.json";
  const fs::path maxlen_path = definitions_dir / "dataset2maxlen.json";
  const auto& prompts = read_json_object(prompts_path, prompts_storage);
  const auto& maxlen = read_json_object(maxlen_path, maxlen_storage);
  const auto p = prompts.find(name);
  if (p == prompts.end() || !p->is_string()) {
    throw DataError(fmt::format("{}: no prompt template for dataset '{}'", prompts_path.string(),
                                name));
  }
  const auto m = maxlen.find(name);
  if (m == maxlen.end() || !m->is_number_integer()) {
    throw DataError(fmt::format("{}: no generation length for dataset '{}'", maxlen_path.string(),
                                name));
  }
  return LongBenchTask{name, p->get<std::string>(), m->get<int64_t>()};
}

std::string format_longbench_prompt(const LongBenchTask& task, const LongBenchSample& sample) {
  const std::string& t = task.prompt_template;
  std::string out;
  out.reserve(t.size() + sample.context.size() + sample.input.size());
  for (size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    if (c == '{' && i + 1 < t.size() && t[i + 1] == '{') {
      out.push_back('{');
      ++i;
    } else if (c == '}' && i + 1 < t.size() && t[i + 1] == '}') {
      out.push_back('}');
      ++i;
    } else if (c == '{') {
      const size_t close = t.find('}', i);
      if (close == std::string::npos) {
        throw DataError(fmt::format("LongBench template '{}': unmatched '{{'", task.dataset));
      }
      const std::string field = t.substr(i + 1, close - i - 1);
      const auto it = sample.record.find(field);
      if (field == "context") {
        out += sample.context;
      } else if (field == "input") {
        out += sample.input;
      } else if (it != sample.record.end()) {
        out += it->is_string() ? it->get<std::string>() : it->dump();
      } else {
        throw DataError(fmt::format("LongBench template '{}': sample {} has no field '{}'",
                                    task.dataset, sample.id, field));
      }
      i = close;
    } else if (c == '}') {
      throw DataError(fmt::format("LongBench template '{}': single '}}'", task.dataset));
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool longbench_uses_chat_template(const std::string& dataset) {
  const std::string name = base_name(dataset);
  for (const char* raw : {"trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p"}) {
    if (name == raw) return false;
  }
  return true;
}

TruncatedPrompt truncate_middle(const TextTokenizer& tokenizer, const std::string& prompt,
                                int64_t max_length) {
  if (max_length <= 0) {
    throw DataError(fmt::format("LongBench truncation: max_length = {}: expected > 0", max_length));
  }
  const std::vector<int64_t> ids = tokenizer.encode(prompt);
  TruncatedPrompt out;
  out.tokens = static_cast<int64_t>(ids.size());
  if (out.tokens <= max_length) {
    out.text = prompt;
    return out;
  }
  const int64_t half = max_length / 2;
  const std::vector<int64_t> head(ids.begin(), ids.begin() + half);
  // Python's ids[-half:] with half = 0 is the whole list (max_length = 1); kept as pred.py has it.
  const std::vector<int64_t> tail(half == 0 ? ids.begin() : ids.end() - half, ids.end());
  out.text = tokenizer.decode(head) + tokenizer.decode(tail);
  out.truncated = true;
  return out;
}

}  // namespace seer::data
