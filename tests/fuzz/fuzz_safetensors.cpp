// Fuzz target: a .safetensors file (header JSON, tensor table, data offsets) read by
// io::SafetensorsFile, every tensor loaded in its stored dtype and as float32. Bad files must
// throw (FormatError and friends), never read out of bounds.
#include "core/io/safetensors.h"
#include "fuzz_util.h"

#include <ATen/ATen.h>

#include <exception>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto dir = seer::fuzz::scratch_dir("safetensors");
  const auto path = dir / "model.safetensors";
  seer::fuzz::write_bytes(path, std::string(reinterpret_cast<const char*>(data), size));
  try {
    seer::io::SafetensorsFile file(path.string());
    for (const auto& name : file.names()) {
      try {
        auto t = file.load(name);
        if (t.is_floating_point()) (void)file.load(name, at::kFloat).sum().item<double>();
      } catch (const std::exception&) {
      }
    }
  } catch (const std::exception&) {
  }
  return 0;
}
