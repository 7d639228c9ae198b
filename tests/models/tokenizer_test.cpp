// BPE tokenizer vs Hugging Face `tokenizers` (tokenizer_reference.py) on the embedded model's
// vocabulary: the GGUF metadata path and three tokenizer.json fixtures (SmolLM2's Digits+ByteLevel,
// Llama-3's and Qwen2's split regexes). ~2000 fresh random strings per run: Unicode scripts,
// digits, whitespace runs, emoji, code, special tokens.
#include "catch.h"
#include "models_util.h"

#include "core/io/gguf.h"
#include "core/tokenizer/bpe_tokenizer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <random>
#include <stdexcept>

using seer::tokenizer::BpeTokenizer;

namespace {

std::vector<std::string> random_strings(uint64_t seed, int count) {
  std::mt19937_64 rng(seed);
  const std::vector<std::string> pieces = {
      "the", "The", " quick", "brown", " fox", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "DON'T",
      "0", "1", "42", "2024", "3.14159", "1,000,000", "٣", "½", "²", "Ⅻ",
      " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u2003", "\u3000",
      "é", "naïve", "café", "Ωmega", "Привет", "мир", "日本語", "中文字符", "한국어", "مرحبا", "שלום", "हिन्दी",
      "ไทย", "🙂", "👍🏽", "👨‍👩‍👧", "🚀", "∑", "≠", "→", "€", "£", "©", "™",
      "def f(x):", "    return x**2", "{\"key\": [1, 2]}", "#include <vector>", "a_b", "x+=1;", "===",
      "!!!", "...", "?!", "--", "__init__", "https://example.com/a?b=c", "<div>", "</s>",
      "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<|im_start|>user\n", "<|im_", "|>",
      "A", "Z", "ß", "İ", "ﬁ", "\u0301", "e\u0301", "\u200b", "\u200d"};
  std::vector<std::string> out;
  std::uniform_int_distribution<int> len(0, 24), pick(0, static_cast<int>(pieces.size()) - 1);
  std::uniform_int_distribution<int> ascii(32, 126), coin(0, 3);
  for (int i = 0; i < count; ++i) {
    std::string s;
    const int n = len(rng);
    for (int j = 0; j < n; ++j) {
      if (coin(rng) == 0) {
        s += static_cast<char>(ascii(rng));
      } else {
        s += pieces[pick(rng)];
      }
    }
    out.push_back(s);
  }
  out.push_back(std::string(300, ' ') + "x");
  out.push_back(std::string(100, '7'));
  return out;
}

struct Reference {
  std::string dir;
  std::vector<std::string> strings;
};

const Reference& reference() {
  static const Reference ref = [] {
    Reference r;
    if (!seer::test::have_python() || seer::test::embedded_gguf_path().empty()) return r;
    r.dir = seer::test::scratch_dir("tokenizer_ref");
    const uint64_t seed = seer::test::fresh_seed();
    fmt::print("tokenizer strings seed {}\n", seed);
    r.strings = random_strings(seed, 2000);
    std::ofstream(r.dir + "/strings.json") << nlohmann::json(r.strings).dump();
    if (!seer::test::run_python_script(
            "tokenizer_reference.py", fmt::format("'{}' '{}' '{}/strings.json' > '{}/log.txt' 2>&1",
                                                  seer::test::embedded_gguf_path(), r.dir, r.dir, r.dir))) {
      throw std::runtime_error("tokenizer_reference.py failed; see " + r.dir + "/log.txt");
    }
    return r;
  }();
  return ref;
}

void compare(const BpeTokenizer& tok, const std::string& variant) {
  const Reference& ref = reference();
  nlohmann::json want;
  std::ifstream(ref.dir + "/" + variant + ".ids.json") >> want;
  REQUIRE(want.size() == ref.strings.size());
  int mismatches = 0;
  for (size_t i = 0; i < ref.strings.size(); ++i) {
    const std::vector<int64_t> got = tok.encode(ref.strings[i], /*add_bos=*/false);
    const auto expected = want[i].get<std::vector<int64_t>>();
    if (got != expected && mismatches++ < 5) {
      UNSCOPED_INFO("string #" << i << " '" << ref.strings[i] << "': got " << nlohmann::json(got).dump()
                               << " want " << nlohmann::json(expected).dump());
    }
    if (got == expected && tok.decode(got) != ref.strings[i]) {
      UNSCOPED_INFO("decode(encode(s)) != s for string #" << i);
      ++mismatches;
    }
  }
  CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("tokenizer from GGUF metadata matches tokenizers on the embedded vocabulary", "[models][tokenizer]") {
  if (reference().dir.empty()) SEER_SKIP("needs the venv python and assets/models (scripts/fetch_model.sh)");
  seer::io::GgufFile g(seer::test::embedded_gguf_path());
  const BpeTokenizer tok = BpeTokenizer::from_gguf(g);
  CHECK(tok.vocab_size() == 49152);
  CHECK(tok.bos_id().value_or(-1) == 1);
  CHECK(tok.token_to_id("<|im_start|>").value_or(-1) == 1);
  compare(tok, "smollm");
}

TEST_CASE("tokenizer from tokenizer.json matches tokenizers", "[models][tokenizer]") {
  if (reference().dir.empty()) SEER_SKIP("needs the venv python and assets/models (scripts/fetch_model.sh)");
  const std::string variant = GENERATE("smollm", "llama3", "qwen2");
  CAPTURE(variant);
  const BpeTokenizer tok = BpeTokenizer::from_tokenizer_json(reference().dir + "/" + variant + ".tokenizer.json");
  compare(tok, variant);
}

TEST_CASE("malformed tokenizer files give clear errors", "[models][tokenizer]") {
  const std::string dir = seer::test::scratch_dir("tokenizer_bad");
  using seer::test::Contains;
  CHECK_THROWS_WITH(BpeTokenizer::from_tokenizer_json(dir + "/absent.json"), Contains("absent.json"));
  std::ofstream(dir + "/cut.json") << R"({"model": {"type": "BPE", "vocab": {"a": 0)";
  CHECK_THROWS_WITH(BpeTokenizer::from_tokenizer_json(dir + "/cut.json"), Contains("cut.json") && Contains("malformed"));
  std::ofstream(dir + "/wp.json") << R"({"model": {"type": "WordPiece", "vocab": {}}})";
  CHECK_THROWS_WITH(BpeTokenizer::from_tokenizer_json(dir + "/wp.json"), Contains("WordPiece"));
}
