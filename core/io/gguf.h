// GGUF reader (llama.cpp's checkpoint format, v2/v3): header, metadata, tensor infos, and
// dequantisation to float32 of F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K and Q6_K tensors.
// Tensors are memory-mapped; nothing is read until a tensor is asked for.
// Layout reminder [ggml]: a tensor's dims are listed innermost first (ne0 = row length), so a
// torch shape is the reversed list: token_embd.weight ne = [576, 49152] -> [49152, 576].
#pragma once

#include "core/io/mapped_file.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace seer::io {

enum class GgmlType : uint32_t {
  kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ8_1 = 9,
  kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14, kQ8_K = 15, kBF16 = 30,
};
std::string ggml_type_name(uint32_t type);

// One metadata value. Scalars fill exactly one of the fields; arrays fill the vector matching
// their element type (integers and bools -> ints, floats -> floats, strings -> strings).
struct GgufValue {
  uint32_t type = 0;        // GGUF value type (4 = u32, 6 = f32, 8 = string, 9 = array, ...)
  uint32_t elem_type = 0;   // for arrays
  bool is_array = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  std::vector<int64_t> ints;
  std::vector<double> floats;
  std::vector<std::string> strings;
};

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> ne;   // ggml order, innermost first
  uint32_t type = 0;
  uint64_t offset = 0;       // from the start of the data section
  uint64_t nbytes = 0;
  std::vector<int64_t> torch_shape() const;   // reversed ne
  int64_t numel() const;
};

class GgufFile {
 public:
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return file_->path(); }
  uint32_t version() const { return version_; }
  const std::map<std::string, GgufValue>& metadata() const { return metadata_; }
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }

  bool has(const std::string& key) const { return metadata_.count(key) != 0; }
  const GgufValue& at(const std::string& key) const;   // FormatError naming file and key
  int64_t get_int(const std::string& key) const;
  std::optional<int64_t> get_int_optional(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::optional<double> get_float_optional(const std::string& key) const;
  std::string get_string(const std::string& key) const;

  const GgufTensorInfo* find_tensor(const std::string& name) const;
  // Dequantised float32 tensor in torch shape; FormatError naming file and tensor when absent or
  // of an unsupported type.
  at::Tensor load_float(const std::string& name) const;

 private:
  std::shared_ptr<MappedFile> file_;
  uint32_t version_ = 0;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> metadata_;
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

// Dequantises `n` values of ggml type `type` from `src` into `dst` (n must be a multiple of the
// type's block size). Throws std::invalid_argument for unsupported types.
void dequantize_row(uint32_t type, const uint8_t* src, float* dst, int64_t n);
// Bytes that `n` values of `type` occupy; throws std::invalid_argument for unknown types.
uint64_t ggml_nbytes(uint32_t type, int64_t n);

}  // namespace seer::io
