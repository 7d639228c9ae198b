// Fuzz target: a Hugging Face tokenizer.json (BPE model, merges, added tokens, pre-tokenizer
// patterns) loaded by tokenizer::BpeTokenizer, then the text after the separator line encoded and
// decoded again. Bad files must throw; any text must encode.
#include "core/tokenizer/bpe_tokenizer.h"
#include "fuzz_util.h"

#include <exception>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto dir = seer::fuzz::scratch_dir("tokenizer_json");
  const auto parts = seer::fuzz::split_input(data, size, "\n@@text@@\n", 2);
  const auto path = dir / "tokenizer.json";
  seer::fuzz::write_bytes(path, parts[0]);
  try {
    auto tok = seer::tokenizer::BpeTokenizer::from_tokenizer_json(path.string());
    const auto ids = tok.encode(parts[1], true);
    (void)tok.decode(ids, true);
    (void)tok.decode(ids, false);
  } catch (const std::exception&) {
  }
  return 0;
}
