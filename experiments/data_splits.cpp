// The named splits of the `data` section and the check that no two of them share a token (see
// data_splits.h).
#include "experiments/data_splits.h"

#include "core/config/config_error.h"
#include "core/config/config_reader.h"
#include "data/data_error.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <optional>

namespace fs = std::filesystem;

namespace seer::experiments {
namespace {

constexpr int64_t kToEnd = std::numeric_limits<int64_t>::max();

// Keys of a corpus spec: found directly under `data`, they are the one-corpus layout of old.
const std::vector<std::string> kSpecKeys = {"kind",    "path",        "field",     "max_docs",
                                            "include", "exclude",     "skip_tokens", "max_tokens"};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Half-open token range [begin, end) in one file's token coordinates; end == kToEnd: to the end.
struct FileRange {
  int64_t begin = 0;
  int64_t end = 0;
  bool empty() const { return begin >= end; }
  bool intersects(const FileRange& o) const {
    return !empty() && !o.empty() && begin < o.end && o.begin < end;
  }
  std::string text() const {
    return end == kToEnd ? fmt::format("[{}, end of file)", begin) : fmt::format("[{}, {})", begin, end);
  }
};

struct ResolvedSplit {
  std::string name;
  data::TextCorpusSpec spec;
  std::vector<std::string> files;   // canonical paths, stream order
  bool whole_files = true;          // reads every file whole: no tokens needed for the check
  std::optional<std::map<std::string, FileRange>> ranges;   // canonical path -> what it reads
};

// The file that set data.<split> (or "command line"), for errors that are not about one key.
std::string source_of(const config::ConfigTree& config, const std::string& key) {
  const std::string s = config.source_of(key);
  return s.empty() ? "<config>" : s;
}

std::string canonical_of(const fs::path& p) {
  std::error_code ec;
  const fs::path c = fs::canonical(p, ec);
  return (ec ? fs::absolute(p).lexically_normal() : c).string();
}

ResolvedSplit resolve_split(const config::ConfigTree& config, const std::string& name) {
  ResolvedSplit s;
  s.name = name;
  s.spec = parse_data_split(config, name);
  std::vector<fs::path> files;
  try {
    files = data::list_corpus_files(s.spec);
  } catch (const data::DataError& e) {
    throw data::DataError(fmt::format("data.{}: {}", name, e.what()));
  }
  for (const auto& f : files) {
    const std::string c = canonical_of(f);
    const auto seen = std::find(s.files.begin(), s.files.end(), c);
    if (seen != s.files.end()) {
      throw config::ConfigError(fmt::format(
          "{}: data.{} reads {} twice (its paths reach it as {} and {})",
          source_of(config, "data." + name), name, c, files[seen - s.files.begin()].string(),
          f.string()));
    }
    s.files.push_back(c);
  }
  // max_docs cuts the records of a JSONL file, so such a split may read part of one.
  s.whole_files = s.spec.skip_tokens == 0 && s.spec.max_tokens == 0 &&
                  !(s.spec.kind == "jsonl" && s.spec.max_docs > 0);
  return s;
}

// The token range of each file that a split with a token window (or a cut JSONL file) reads: its
// documents are tokenised in stream order up to the window's end. Within a JSONL file the records
// are numbered on from the file's first record, eos between them, as the stream has them, so two
// splits of one file agree on the coordinates.
std::map<std::string, FileRange> windowed_ranges(const ResolvedSplit& s, DocTokenCache& cache) {
  const bool eos = cache.tokenizer().eos_id().has_value();
  const int64_t begin = s.spec.skip_tokens;
  const int64_t end = s.spec.max_tokens > 0 ? begin + s.spec.max_tokens : kToEnd;
  std::map<std::string, FileRange> out;
  std::map<std::string, int64_t> file_pos;   // next token position inside each file
  int64_t pos = 0;                           // position in the split's stream
  const auto docs = data::load_text_corpus(s.spec);
  for (size_t k = 0; k < docs.size() && pos < end; ++k) {
    if (k > 0 && eos) ++pos;
    const std::string file = canonical_of(docs[k].file);
    int64_t& fpos = file_pos[file];
    if (fpos > 0 && eos) ++fpos;
    if (pos >= end) break;
    const int64_t n = static_cast<int64_t>(cache.tokens(docs[k]).size());
    const int64_t lo = std::max(pos, begin), hi = std::min(pos + n, end);
    if (lo < hi) {
      const FileRange r{fpos + lo - pos, fpos + hi - pos};
      auto [it, fresh] = out.emplace(file, r);
      if (!fresh) it->second = {std::min(it->second.begin, r.begin), std::max(it->second.end, r.end)};
    }
    pos += n;
    fpos += n;
  }
  return out;
}

FileRange range_in(ResolvedSplit& s, const std::string& file, DocTokenCache& cache) {
  if (s.whole_files) return {0, kToEnd};
  if (!s.ranges) s.ranges = windowed_ranges(s, cache);
  const auto it = s.ranges->find(file);
  return it == s.ranges->end() ? FileRange{} : it->second;
}

}  // namespace

std::vector<std::string> data_split_names(const config::ConfigTree& config) {
  const YAML::Node node = config.at("data");
  if (!node.IsDefined() || node.IsNull()) {
    throw config::ConfigError(config.source_of("data"), "data", "<missing>",
                              "expected named splits (data.train, data.eval, data.calib), each "
                              "a corpus spec (configs/data/embedded_books.yaml)");
  }
  const config::ConfigReader r(config, "data");   // throws unless a mapping
  std::vector<std::string> names = r.keys();
  for (const auto& name : names) {
    if (std::find(kSpecKeys.begin(), kSpecKeys.end(), name) != kSpecKeys.end()) {
      r.fail(name, "`data` holds named splits, each a corpus spec (data.train, data.eval, "
                   "data.calib: e.g. data.eval." + name + "), not one corpus");
    }
  }
  if (names.empty()) {
    throw config::ConfigError(config.source_of("data"), "data", "{}",
                              "expected named splits (data.train, data.eval, data.calib)");
  }
  return names;
}

data::TextCorpusSpec parse_data_split(const config::ConfigTree& config, const std::string& split) {
  const auto names = data_split_names(config);
  if (std::find(names.begin(), names.end(), split) == names.end()) {
    throw config::ConfigError(config.source_of("data"), "data." + split, "<missing>",
                              fmt::format("this stage reads the split '{}'; data has {}", split,
                                          joined(names)));
  }
  return data::parse_text_corpus(config::ConfigReader(config, "data." + split));
}

void validate_data_splits(const config::ConfigTree& config, const std::string& split) {
  for (const auto& name : data_split_names(config)) parse_data_split(config, name);
  parse_data_split(config, split);
}

void check_data_split_files(const config::ConfigTree& config,
                            const std::vector<std::string>& splits) {
  for (const auto& name : splits.empty() ? data_split_names(config) : splits)
    resolve_split(config, name);
}

std::string DocTokenCache::key(const data::TextDoc& doc) {
  return canonical_of(doc.file) + "\n" + doc.id;
}

const std::vector<int64_t>& DocTokenCache::tokens(const data::TextDoc& doc) {
  const std::string k = key(doc);
  auto it = cache_.find(k);
  if (it == cache_.end()) it = cache_.emplace(k, tok_.encode(doc.text, false)).first;
  return it->second;
}

void check_data_splits_disjoint(const config::ConfigTree& config, DocTokenCache& cache) {
  std::vector<ResolvedSplit> splits;
  for (const auto& name : data_split_names(config)) splits.push_back(resolve_split(config, name));
  for (size_t i = 0; i < splits.size(); ++i) {
    for (size_t j = i + 1; j < splits.size(); ++j) {
      for (const auto& file : splits[i].files) {
        const auto& other = splits[j].files;
        if (std::find(other.begin(), other.end(), file) == other.end()) continue;
        const FileRange a = range_in(splits[i], file, cache);
        const FileRange b = range_in(splits[j], file, cache);
        if (!a.intersects(b)) continue;
        const std::string& x = splits[i].name;
        const std::string& y = splits[j].name;
        throw config::ConfigError(fmt::format(
            "{}: data.{} and data.{} overlap in {}: data.{} reads its tokens {}, data.{} its "
            "tokens {}; a token of the corpus may belong to one split only",
            source_of(config, "data." + y), x, y, file, x, a.text(), y, b.text()));
      }
    }
  }
}

}  // namespace seer::experiments
