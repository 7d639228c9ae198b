// What the reliability tests run whole stages on, made in a few milliseconds and needing no
// download: a tiny random Llama checkpoint in the Hugging Face layout (config.json,
// model.safetensors, a byte-level tokenizer.json with one token per byte) and seeded
// pseudo-English text for the train and eval splits. The same seed writes the same bytes.
//   const auto model = seer::test::write_tiny_model(dir / "model", 7);
//   seer::test::write_tiny_text(dir / "train.txt", 4096, 1);
#pragma once

#include <cstdint>
#include <filesystem>

namespace seer::test {

// 2 layers, hidden 64, 4 query / 2 KV heads of D 16 (GQA), vocabulary 256 bytes + <|endoftext|>
// (id 256, the EOS), tied LM head, RoPE theta 10000, 4096 positions. Projections N(0, 1 / fan_in),
// so that attention is far from uniform and block maps have structure to learn; embeddings of
// std 0.1, so that the tied head's logits stay moderate.
std::filesystem::path write_tiny_model(const std::filesystem::path& dir, uint64_t seed);

// `bytes` bytes of lower-case words and full stops (ASCII: one token per byte).
void write_tiny_text(const std::filesystem::path& file, int64_t bytes, uint64_t seed);

}  // namespace seer::test
