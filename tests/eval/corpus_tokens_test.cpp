// Tests experiments/corpus_tokens and experiments/data_splits: the tokens each split of `data`
// returns (documents joined with eos, token windows, the stage's cut), the check that no two
// splits share a token of a file (whole files, windows that overlap / touch / are disjoint, one
// file reached through two paths, JSONL records), and the config errors. A byte tokenizer (one
// token per byte, eos = 256) makes token ranges byte ranges, so every expected stream is built
// from the fixture bytes by hand.
#include "experiments/corpus_tokens.h"

#include "catch.h"
#include "core/config/config_error.h"
#include "core/io/gguf.h"
#include "core/tokenizer/byte_level.h"
#include "data/data_error.h"
#include "eval_test_util.h"
#include "experiments/data_splits.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <random>

namespace fs = std::filesystem;
using namespace seer;
using seer::test::Contains;

namespace {

constexpr int64_t kEos = 256;

tokenizer::BpeTokenizer byte_tokenizer() {
  tokenizer::BpeModel m;
  const tokenizer::ByteLevel bl;
  for (int b = 0; b < 256; ++b) m.id_to_token.push_back(bl.encode(std::string(1, static_cast<char>(b))));
  m.added.push_back({"<eos>", kEos, true});
  m.eos_id = kEos;
  return tokenizer::BpeTokenizer(m);
}

const tokenizer::BpeTokenizer& tok() {
  static const tokenizer::BpeTokenizer t = byte_tokenizer();
  return t;
}

config::ConfigTree tree_of(const std::string& data_yaml) {
  YAML::Node root;
  root["data"] = YAML::Load(data_yaml);
  return config::ConfigTree(root);
}

std::vector<int64_t> bytes_of(const std::string& s) {
  std::vector<int64_t> out;
  for (unsigned char c : s) out.push_back(c);
  return out;
}

// The stream of `docs` as the stages read it: documents in order, eos between them.
std::vector<int64_t> stream_of(const std::vector<std::string>& docs) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i > 0) out.push_back(kEos);
    const auto b = bytes_of(docs[i]);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

std::vector<int64_t> slice(const std::vector<int64_t>& v, int64_t begin, int64_t end) {
  begin = std::min<int64_t>(begin, v.size());
  end = std::min<int64_t>(end, v.size());
  return begin < end ? std::vector<int64_t>(v.begin() + begin, v.begin() + end) : std::vector<int64_t>{};
}

// Words of lower-case letters and spaces, with a newline now and then: `n` bytes.
std::string random_text(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string s;
  while (static_cast<int64_t>(s.size()) < n) {
    const uint32_t r = gen() % 40;
    s.push_back(r < 26 ? static_cast<char>('a' + r) : r < 38 ? ' ' : '\n');
  }
  return s;
}

std::string overlap_error(const config::ConfigTree& tree) {
  try {
    experiments::split_tokens(tree, "train", tok(), 0);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("split_tokens joins a split's documents with eos and cuts at max_tokens", "[eval][splits]") {
  const fs::path dir = test::fresh_tmp_dir("splits_read");
  // Long enough that a short read tokenises only a prefix of a document.
  const std::vector<std::string> texts = {random_text(2000, 1), random_text(1500, 2),
                                          random_text(333, 3), random_text(900, 4)};
  const std::vector<std::string> names = {"a.txt", "b.txt", "c.txt", "d.txt"};
  for (size_t i = 0; i < texts.size(); ++i) test::write_file(dir / names[i], texts[i]);
  const auto tree = tree_of(fmt::format(
      "{{train: {{kind: text_dir, path: {0}, exclude: [c.txt]}},"
      " eval: {{kind: text_dir, path: {0}, include: [c.txt]}}}}",
      dir.string()));
  const auto train = stream_of({texts[0], texts[1], texts[3]});
  const int64_t max_tokens = GENERATE(0, 1, 7, 1999, 2000, 2001, 2002, 3000, 4402, 4403, 99999);
  CAPTURE(max_tokens);
  const auto got = experiments::split_tokens(tree, "train", tok(), max_tokens);
  CHECK(got == (max_tokens == 0 ? train : slice(train, 0, max_tokens)));
  CHECK(experiments::split_tokens(tree, "eval", tok(), max_tokens) ==
        (max_tokens == 0 ? bytes_of(texts[2]) : slice(bytes_of(texts[2]), 0, max_tokens)));
}

TEST_CASE("a split's token window is taken over its stream, then the stage's cut", "[eval][splits]") {
  const fs::path dir = test::fresh_tmp_dir("splits_window");
  const std::vector<std::string> texts = {random_text(700, 5), random_text(41, 6), random_text(600, 7)};
  for (size_t i = 0; i < texts.size(); ++i) test::write_file(dir / fmt::format("{}.txt", i), texts[i]);
  const auto stream = stream_of(texts);   // 1343 tokens
  const int64_t skip = GENERATE(0, 1, 699, 700, 701, 742, 1342, 1343, 5000);
  const int64_t window = GENERATE(0, 1, 40, 644);
  const int64_t cut = GENERATE(0, 3, 1000);
  CAPTURE(skip, window, cut);
  const auto tree = tree_of(fmt::format(
      "{{eval: {{kind: text_dir, path: {}, skip_tokens: {}, max_tokens: {}}}}}", dir.string(), skip,
      window));
  int64_t end = window > 0 ? skip + window : static_cast<int64_t>(stream.size());
  if (cut > 0) end = std::min(end, skip + cut);
  if (skip >= static_cast<int64_t>(stream.size())) {   // nothing left to read: an error, not {}
    CHECK_THROWS_WITH(experiments::split_tokens(tree, "eval", tok(), cut),
                      Contains("data.eval: no tokens to read") &&
                          Contains(fmt::format("skip_tokens {}", skip)));
    return;
  }
  CHECK(experiments::split_tokens(tree, "eval", tok(), cut) == slice(stream, skip, end));
}

TEST_CASE("JSONL splits read records in file order, max_docs across files", "[eval][splits]") {
  const fs::path dir = test::fresh_tmp_dir("splits_jsonl");
  test::write_file(dir / "a.jsonl", "{\"text\": \"one\"}\n\n{\"text\": \"two\"}\n");
  test::write_file(dir / "b.jsonl", "{\"text\": \"three\"}\n");
  const int64_t max_docs = GENERATE(0, 1, 2, 3, 4);
  CAPTURE(max_docs);
  const auto tree = tree_of(fmt::format("{{train: {{kind: jsonl, path: [{}, {}], max_docs: {}}}}}",
                                        (dir / "a.jsonl").string(), (dir / "b.jsonl").string(),
                                        max_docs));
  std::vector<std::string> docs = {"one", "two", "three"};
  if (max_docs > 0 && max_docs < 3) docs.resize(max_docs);
  CHECK(experiments::split_tokens(tree, "train", tok(), 0) == stream_of(docs));
}

TEST_CASE("splits that read the same file whole are rejected", "[eval][splits]") {
  const fs::path dir = test::fresh_tmp_dir("splits_whole");
  test::write_file(dir / "a.txt", "first book\n");
  test::write_file(dir / "b.txt", "second book\n");
  const std::string canonical = fs::canonical(dir / "b.txt").string();
  SECTION("a folder and one of its files") {
    const auto tree = tree_of(fmt::format(
        "{{train: {{kind: text_dir, path: {0}}}, eval: {{kind: text_file, path: {0}/b.txt}}}}",
        dir.string()));
    const std::string e = overlap_error(tree);
    CHECK_THAT(e, Contains("data.train and data.eval overlap in " + canonical) &&
                      Contains("[0, end of file)"));
  }
  SECTION("include and exclude that leave a file in both") {
    const auto tree = tree_of(fmt::format(
        "{{train: {{kind: text_dir, path: {0}, exclude: [a.txt]}},"
        " calib: {{kind: text_dir, path: {0}, include: [b.txt]}}}}",
        dir.string()));
    CHECK_THAT(overlap_error(tree), Contains("data.train and data.calib") && Contains(canonical));
  }
  SECTION("disjoint include / exclude pass") {
    const auto tree = tree_of(fmt::format(
        "{{train: {{kind: text_dir, path: {0}, exclude: [b.txt]}},"
        " eval: {{kind: text_dir, path: {0}, include: [b.txt]}}}}",
        dir.string()));
    CHECK(overlap_error(tree).empty());
    CHECK(experiments::split_tokens(tree, "train", tok(), 0) == bytes_of("first book\n"));
  }
}

TEST_CASE("token windows in one file may touch but not overlap", "[eval][splits]") {
  const fs::path dir = test::fresh_tmp_dir("splits_windows");
  const std::string text = random_text(500, 8);
  test::write_file(dir / "book.txt", text);
  const std::string file = (dir / "book.txt").string();
  struct Case {
    int64_t train_skip, train_max, eval_skip, eval_max;
    bool overlap;
  };
  // Half-open ranges: [0, 100) and [100, 200) touch and are disjoint.
  const Case c = GENERATE(Case{0, 100, 100, 100, false}, Case{0, 100, 99, 10, true},
                          Case{0, 100, 200, 0, false}, Case{0, 100, 50, 100, true},
                          Case{100, 50, 0, 100, false}, Case{100, 50, 0, 101, true},
                          Case{10, 0, 0, 10, false}, Case{10, 0, 0, 11, true},
                          Case{0, 0, 600, 0, false},   // the eval window starts past the file
                          Case{0, 0, 499, 0, true}, Case{120, 10, 100, 30, true});
  CAPTURE(c.train_skip, c.train_max, c.eval_skip, c.eval_max);
  const auto tree = tree_of(fmt::format(
      "{{train: {{kind: text_file, path: {0}, skip_tokens: {1}, max_tokens: {2}}},"
      " eval: {{kind: text_file, path: {0}, skip_tokens: {3}, max_tokens: {4}}}}}",
      file, c.train_skip, c.train_max, c.eval_skip, c.eval_max));
  const std::string e = overlap_error(tree);
  if (!c.overlap) {
    CHECK(e.empty());
    return;
  }
  auto range = [](int64_t skip, int64_t max) {
    if (skip == 0 && max == 0) return std::string("[0, end of file)");   // read whole, untokenised
    return fmt::format("[{}, {})", skip, max > 0 ? skip + max : 500);
  };
  CHECK_THAT(e, Contains("data.train and data.eval overlap in " + fs::canonical(file).string()) &&
                    Contains("data.train reads its tokens " + range(c.train_skip, c.train_max)) &&
                    Contains("data.eval its tokens " + range(c.eval_skip, c.eval_max)));
}

TEST_CASE("windows are mapped into each file past the eos between documents", "[eval][splits]") {
  const fs::path dir = test::fresh_tmp_dir("splits_map");
  const std::string a = random_text(300, 9), b = random_text(200, 10);
  test::write_file(dir / "a.txt", a);
  test::write_file(dir / "b.txt", b);
  // train reads all of a.txt, the eos, then the first 5 tokens of b.txt.
  const int64_t eval_skip = GENERATE(4, 5);
  CAPTURE(eval_skip);
  const auto tree = tree_of(fmt::format(
      "{{train: {{kind: text_dir, path: {0}, max_tokens: 306}},"
      " eval: {{kind: text_file, path: {0}/b.txt, skip_tokens: {1}}}}}",
      dir.string(), eval_skip));
  const std::string e = overlap_error(tree);
  if (eval_skip == 5) {
    CHECK(e.empty());
    CHECK(experiments::split_tokens(tree, "eval", tok(), 0) == slice(bytes_of(b), 5, 200));
  } else {
    CHECK_THAT(e, Contains((dir / "b.txt").string()) && Contains("tokens [0, 5)") &&
                      Contains("tokens [4, 200)"));
  }
}

TEST_CASE("JSONL records cut by max_docs and a window of the same file", "[eval][splits]") {
  const fs::path dir = test::fresh_tmp_dir("splits_jsonl_overlap");
  test::write_file(dir / "r.jsonl", "{\"text\": \"abc\"}\n{\"text\": \"de\"}\n{\"text\": \"fghij\"}\n");
  // The file's coordinates: abc <eos> de <eos> fghij; two records end at token 6.
  const int64_t eval_skip = GENERATE(5, 6, 7);
  CAPTURE(eval_skip);
  const auto tree = tree_of(fmt::format(
      "{{train: {{kind: jsonl, path: {0}, max_docs: 2}},"
      " eval: {{kind: jsonl, path: {0}, skip_tokens: {1}}}}}",
      (dir / "r.jsonl").string(), eval_skip));
  const std::string e = overlap_error(tree);
  if (eval_skip >= 6) {
    CHECK(e.empty());
  } else {
    CHECK_THAT(e, Contains("tokens [0, 6)") && Contains("tokens [5, 12)"));
  }
}

TEST_CASE("one file reached through two paths is one file", "[eval][splits]") {
  const fs::path dir = test::fresh_tmp_dir("splits_paths");
  test::write_file(dir / "books" / "a.txt", "alpha\n");
  test::write_file(dir / "books" / "b.txt", "beta\n");
  fs::create_directory_symlink(dir / "books", dir / "link");
  const std::string canonical = fs::canonical(dir / "books" / "a.txt").string();
  SECTION("a symlinked folder") {
    const auto tree = tree_of(fmt::format(
        "{{train: {{kind: text_dir, path: {0}/books, include: [a.txt]}},"
        " eval: {{kind: text_file, path: {0}/link/a.txt}}}}",
        dir.string()));
    CHECK_THAT(overlap_error(tree), Contains("data.train and data.eval overlap in " + canonical));
  }
  SECTION("a path with ..") {
    const auto tree = tree_of(fmt::format(
        "{{train: {{kind: text_dir, path: {0}/books, exclude: [b.txt]}},"
        " eval: {{kind: text_file, path: {0}/books/../books/a.txt}}}}",
        dir.string()));
    CHECK_THAT(overlap_error(tree), Contains(canonical));
  }
  SECTION("one split reading a file twice") {
    const auto tree = tree_of(fmt::format(
        "{{train: {{kind: text_dir, path: [{0}/books, {0}/link]}}}}", dir.string()));
    CHECK_THAT(overlap_error(tree), Contains("data.train reads " + canonical + " twice"));
  }
}

TEST_CASE("data split config errors name the key", "[eval][splits]") {
  const fs::path dir = test::fresh_tmp_dir("splits_errors");
  test::write_file(dir / "a.txt", "alpha\n");
  const std::string d = dir.string();
  auto error_of = [](const config::ConfigTree& tree, const std::string& split) -> std::string {
    try {
      experiments::split_tokens(tree, split, tok(), 0);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  SECTION("the one-corpus layout of old") {
    const auto tree = tree_of(fmt::format("{{kind: text_dir, path: {}}}", d));
    CHECK_THAT(error_of(tree, "train"), Contains("data.kind") && Contains("named splits"));
    CHECK_THROWS_AS(experiments::validate_data_splits(tree, "train"), config::ConfigError);
  }
  SECTION("no data section") {
    YAML::Node root;
    root["model"]["path"] = "x";
    const config::ConfigTree tree(root);
    CHECK_THAT(error_of(tree, "eval"), Contains("data") && Contains("named splits"));
  }
  SECTION("a split that is not a mapping") {
    CHECK_THAT(error_of(tree_of(fmt::format("{{train: {}}}", d)), "train"),
               Contains("data.train") && Contains("mapping"));
  }
  SECTION("unknown key in a split") {
    const auto tree = tree_of(fmt::format("{{train: {{kind: text_dir, path: {}, max_doc: 3}}}}", d));
    CHECK_THAT(error_of(tree, "train"), Contains("data.train.max_doc") && Contains("unknown key"));
    CHECK_THROWS_AS(experiments::validate_data_splits(tree, "train"), config::ConfigError);
  }
  SECTION("a split asked for but absent") {
    const auto tree = tree_of(fmt::format(
        "{{train: {{kind: text_dir, path: {0}}}, eval: {{kind: text_file, path: {0}/b.txt}}}}", d));
    CHECK_THROWS_AS(experiments::validate_data_splits(tree, "calib"), config::ConfigError);
    CHECK_THAT(error_of(tree, "calib"), Contains("data.calib") && Contains("train, eval"));
  }
  SECTION("a bad key of an unread split is still an error") {
    const auto tree = tree_of(fmt::format(
        "{{train: {{kind: text_dir, path: {0}}}, calib: {{kind: text_file, path: {0}/a.txt, "
        "skip_tokens: -1}}}}", d));
    CHECK_THAT(error_of(tree, "train"), Contains("data.calib.skip_tokens"));
  }
  SECTION("a missing path names the split and the path") {
    const auto tree = tree_of(fmt::format(
        "{{train: {{kind: text_dir, path: [{0}, {0}/nope]}}}}", d));
    CHECK_NOTHROW(experiments::validate_data_splits(tree, "train"));   // touches no file
    CHECK_THROWS_AS(experiments::split_tokens(tree, "train", tok(), 0), data::DataError);
    CHECK_THAT(error_of(tree, "train"), Contains("data.train") && Contains(d + "/nope"));
  }
  SECTION("a missing path of another split") {
    const auto tree = tree_of(fmt::format(
        "{{train: {{kind: text_dir, path: {0}}}, eval: {{kind: text_file, path: {0}/gone.txt}}}}", d));
    CHECK_THAT(error_of(tree, "train"), Contains("data.eval") && Contains("gone.txt"));
  }
  SECTION("an include name that matches no file") {
    const auto tree = tree_of(fmt::format("{{eval: {{kind: text_dir, path: {}, include: [b.txt]}}}}", d));
    CHECK_THAT(error_of(tree, "eval"), Contains("data.eval") && Contains("'b.txt'"));
  }
}

TEST_CASE("a short read of a long book with the model's tokenizer is a prefix of the whole",
          "[eval][splits]") {
  // split_tokens tokenises only ~12 bytes per wanted token of a long document and drops the last
  // token of that prefix (it may be half a word); what it returns must be exactly the start of the
  // whole book's tokens, wherever the cut falls.
  const fs::path model = fs::path(SEER_SOURCE_DIR) / "assets/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  const fs::path book = fs::path(SEER_SOURCE_DIR) / "assets/books/persuasion.txt";
  if (!fs::exists(model) || !fs::exists(book)) {
    SEER_SKIP("needs assets/models and assets/books (scripts/setup.sh)");
  }
  static const tokenizer::BpeTokenizer bpe =
      tokenizer::BpeTokenizer::from_gguf(io::GgufFile(model.string()));
  const auto tree = tree_of(fmt::format("{{eval: {{kind: text_file, path: {}}}}}", book.string()));
  static const std::vector<int64_t> whole = experiments::split_tokens(tree, "eval", bpe, 0);
  REQUIRE(whole.size() > 100000);
  CHECK(whole == bpe.encode(test::read_file(book), false));
  const int64_t n = GENERATE(1, 2, 3, 17, 100, 1001, 4096, 8191, 32768);
  CAPTURE(n);
  const auto got = experiments::split_tokens(tree, "eval", bpe, n);
  CHECK(got == slice(whole, 0, n));
}
