// Fuzz target: a GGUF file (header, metadata key/values and arrays, tensor infos, alignment)
// read by io::GgufFile; every small tensor dequantised, every metadata getter called, and the BPE
// tokenizer built from it as the model loader does. Bad files must throw, never crash.
#include "core/io/gguf.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "fuzz_util.h"

#include <ATen/ATen.h>

#include <exception>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto dir = seer::fuzz::scratch_dir("gguf");
  const auto path = dir / "model.gguf";
  seer::fuzz::write_bytes(path, std::string(reinterpret_cast<const char*>(data), size));
  try {
    seer::io::GgufFile file(path.string());
    for (const auto& [key, value] : file.metadata()) {
      try {
        (void)file.get_int_optional(key);
        (void)file.get_float_optional(key);
        (void)file.get_string(key);
      } catch (const std::exception&) {
      }
    }
    for (const auto& t : file.tensors()) {
      try {
        if (t.numel() <= (1 << 16)) (void)file.load_float(t.name).sum().item<double>();
      } catch (const std::exception&) {
      }
    }
    try {
      auto tok = seer::tokenizer::BpeTokenizer::from_gguf(file);
      (void)tok.decode(tok.encode("Hello, world! 123"));
    } catch (const std::exception&) {
    }
  } catch (const std::exception&) {
  }
  return 0;
}
