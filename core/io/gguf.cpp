// GGUF parsing. Every read goes through Cursor, which bounds-checks against the file size so a
// truncated or corrupt file gives a FormatError naming the file and what was being read.
#include "core/io/gguf.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace seer::io {
namespace {

constexpr uint32_t kTypeUint8 = 0, kTypeInt8 = 1, kTypeUint16 = 2, kTypeInt16 = 3,
                   kTypeUint32 = 4, kTypeInt32 = 5, kTypeFloat32 = 6, kTypeBool = 7,
                   kTypeString = 8, kTypeArray = 9, kTypeUint64 = 10, kTypeInt64 = 11,
                   kTypeFloat64 = 12;

class Cursor {
 public:
  Cursor(const MappedFile& f) : f_(f) {}
  uint64_t pos() const { return pos_; }
  void need(uint64_t n, const std::string& what) const {
    if (pos_ + n > f_.size() || pos_ + n < pos_) {
      throw FormatError(fmt::format("{}: truncated GGUF file while reading {} (offset {}, need {} "
                                    "bytes, file has {})", f_.path(), what, pos_, n, f_.size()));
    }
  }
  template <typename T>
  T read(const std::string& what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, f_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const std::string& what) {
    const uint64_t n = read<uint64_t>(what);
    if (n > (1ull << 30)) {
      throw FormatError(fmt::format("{}: corrupt GGUF file: string length {} while reading {}",
                                    f_.path(), n, what));
    }
    need(n, what);
    std::string s(reinterpret_cast<const char*>(f_.data() + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const MappedFile& f_;
  uint64_t pos_ = 0;
};

bool is_integer_type(uint32_t t) {
  return t == kTypeUint8 || t == kTypeInt8 || t == kTypeUint16 || t == kTypeInt16 ||
         t == kTypeUint32 || t == kTypeInt32 || t == kTypeUint64 || t == kTypeInt64 ||
         t == kTypeBool;
}

int64_t read_integer(Cursor& c, uint32_t t, const std::string& what) {
  switch (t) {
    case kTypeUint8: return c.read<uint8_t>(what);
    case kTypeInt8: return c.read<int8_t>(what);
    case kTypeUint16: return c.read<uint16_t>(what);
    case kTypeInt16: return c.read<int16_t>(what);
    case kTypeUint32: return c.read<uint32_t>(what);
    case kTypeInt32: return c.read<int32_t>(what);
    case kTypeUint64: return static_cast<int64_t>(c.read<uint64_t>(what));
    case kTypeInt64: return c.read<int64_t>(what);
    case kTypeBool: return c.read<uint8_t>(what) != 0;
    default: throw std::logic_error("read_integer: not an integer type");
  }
}

GgufValue read_value(Cursor& c, uint32_t type, const std::string& key, const std::string& path) {
  GgufValue v;
  v.type = type;
  if (is_integer_type(type)) {
    v.i = read_integer(c, type, key);
  } else if (type == kTypeFloat32) {
    v.f = c.read<float>(key);
  } else if (type == kTypeFloat64) {
    v.f = c.read<double>(key);
  } else if (type == kTypeString) {
    v.s = c.read_string(key);
  } else if (type == kTypeArray) {
    v.is_array = true;
    v.elem_type = c.read<uint32_t>(key);
    const uint64_t n = c.read<uint64_t>(key);
    if (n > (1ull << 32)) {
      throw FormatError(fmt::format("{}: corrupt GGUF file: array '{}' has {} elements", path, key, n));
    }
    for (uint64_t j = 0; j < n; ++j) {
      if (is_integer_type(v.elem_type)) {
        v.ints.push_back(read_integer(c, v.elem_type, key));
      } else if (v.elem_type == kTypeFloat32) {
        v.floats.push_back(c.read<float>(key));
      } else if (v.elem_type == kTypeFloat64) {
        v.floats.push_back(c.read<double>(key));
      } else if (v.elem_type == kTypeString) {
        v.strings.push_back(c.read_string(key));
      } else {
        throw FormatError(fmt::format("{}: unsupported GGUF array element type {} in '{}'", path,
                                      v.elem_type, key));
      }
    }
  } else {
    throw FormatError(fmt::format("{}: corrupt GGUF file: unknown value type {} for key '{}'",
                                  path, type, key));
  }
  return v;
}

}  // namespace

std::vector<int64_t> GgufTensorInfo::torch_shape() const { return {ne.rbegin(), ne.rend()}; }

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

GgufFile::GgufFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  Cursor c(*file_);
  const uint32_t magic = c.read<uint32_t>("magic");
  if (std::memcmp(&magic, "GGUF", 4) != 0) {
    throw FormatError(fmt::format("{}: not a GGUF file (magic bytes are not 'GGUF')", path));
  }
  version_ = c.read<uint32_t>("version");
  if (version_ < 2 || version_ > 3) {
    throw FormatError(fmt::format("{}: unsupported GGUF version {} (expected 2 or 3)", path, version_));
  }
  const uint64_t n_tensors = c.read<uint64_t>("tensor count");
  const uint64_t n_kv = c.read<uint64_t>("metadata count");
  if (n_tensors > (1u << 24) || n_kv > (1u << 24)) {
    throw FormatError(fmt::format("{}: corrupt GGUF header: {} tensors, {} metadata keys", path,
                                  n_tensors, n_kv));
  }
  for (uint64_t j = 0; j < n_kv; ++j) {
    std::string key = c.read_string(fmt::format("metadata key #{}", j));
    const uint32_t type = c.read<uint32_t>(key);
    metadata_[key] = read_value(c, type, key, path);
  }
  for (uint64_t j = 0; j < n_tensors; ++j) {
    GgufTensorInfo t;
    t.name = c.read_string(fmt::format("tensor info #{}", j));
    const uint32_t n_dims = c.read<uint32_t>(t.name);
    if (n_dims == 0 || n_dims > 4) {
      throw FormatError(fmt::format("{}: corrupt GGUF file: tensor '{}' has {} dims", path, t.name, n_dims));
    }
    // Each dimension and the element count bounded (kMaxTensorElements), so the byte counts below
    // cannot overflow.
    constexpr uint64_t kMaxElements = static_cast<uint64_t>(kMaxTensorElements);
    uint64_t elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t n = c.read<uint64_t>(t.name);
      if (n > kMaxElements / elements) {   // elements >= 1; a division cannot wrap
        throw FormatError(fmt::format("{}: corrupt GGUF file: tensor '{}' dimension {} is {} "
                                      "(more than 2^48 elements in all)", path, t.name, d, n));
      }
      elements *= std::max<uint64_t>(n, 1);
      t.ne.push_back(static_cast<int64_t>(n));
    }
    t.type = c.read<uint32_t>(t.name);
    t.offset = c.read<uint64_t>(t.name);
    try {
      t.nbytes = ggml_nbytes(t.type, t.numel());
    } catch (const std::invalid_argument& e) {
      throw FormatError(fmt::format("{}: tensor '{}': {}", path, t.name, e.what()));
    }
    tensor_index_[t.name] = tensors_.size();
    tensors_.push_back(std::move(t));
  }
  const int64_t alignment = has("general.alignment") ? get_int("general.alignment") : 32;
  if (alignment < 1 || alignment > (1 << 20) || (alignment & (alignment - 1)) != 0) {
    throw FormatError(fmt::format("{}: corrupt GGUF file: general.alignment = {} (expected a power "
                                  "of two up to 2^20)", path, alignment));
  }
  const uint64_t align = static_cast<uint64_t>(alignment);
  data_offset_ = (c.pos() + align - 1) / align * align;
  for (const auto& t : tensors_) {
    // In this order so that no sum wraps around: offset and size each within the file first.
    const uint64_t size = file_->size();
    if (data_offset_ > size || t.offset > size - data_offset_ ||
        t.nbytes > size - data_offset_ - t.offset) {
      throw FormatError(fmt::format("{}: truncated GGUF file: tensor '{}' ({} bytes at offset {}) "
                                    "ends past the end of the file ({} bytes)", path, t.name,
                                    t.nbytes, data_offset_ + t.offset, file_->size()));
    }
  }
}

const GgufValue& GgufFile::at(const std::string& key) const {
  auto it = metadata_.find(key);
  if (it == metadata_.end()) {
    throw FormatError(fmt::format("{}: GGUF metadata key '{}' is missing", path(), key));
  }
  return it->second;
}

int64_t GgufFile::get_int(const std::string& key) const {
  const GgufValue& v = at(key);
  if (v.is_array || !is_integer_type(v.type)) {
    throw FormatError(fmt::format("{}: GGUF metadata '{}' is not an integer (type {})", path(), key, v.type));
  }
  return v.i;
}

std::optional<int64_t> GgufFile::get_int_optional(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_int(key);
}

double GgufFile::get_float(const std::string& key) const {
  const GgufValue& v = at(key);
  if (v.is_array) throw FormatError(fmt::format("{}: GGUF metadata '{}' is an array, expected a number", path(), key));
  if (v.type == kTypeFloat32 || v.type == kTypeFloat64) return v.f;
  if (is_integer_type(v.type)) return static_cast<double>(v.i);
  throw FormatError(fmt::format("{}: GGUF metadata '{}' is not a number (type {})", path(), key, v.type));
}

std::optional<double> GgufFile::get_float_optional(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return get_float(key);
}

std::string GgufFile::get_string(const std::string& key) const {
  const GgufValue& v = at(key);
  if (v.is_array || v.type != kTypeString) {
    throw FormatError(fmt::format("{}: GGUF metadata '{}' is not a string (type {})", path(), key, v.type));
  }
  return v.s;
}

const GgufTensorInfo* GgufFile::find_tensor(const std::string& name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

at::Tensor GgufFile::load_float(const std::string& name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (t == nullptr) {
    throw FormatError(fmt::format("{}: tensor '{}' is missing from the GGUF file", path(), name));
  }
  at::Tensor out = at::empty(t->torch_shape(), at::kFloat);
  if (out.numel() == 0) return out;   // a zero dimension: no rows to read
  const uint8_t* src = file_->data() + data_offset_ + t->offset;
  const int64_t row = t->ne[0];
  const int64_t rows = t->numel() / row;
  float* dst = out.data_ptr<float>();
  try {
    const uint64_t row_bytes = ggml_nbytes(t->type, row);
    dequantize_row(t->type, src, dst, 0);  // throws for unsupported types before the threads start
    at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) dequantize_row(t->type, src + r * row_bytes, dst + r * row, row);
    });
  } catch (const std::invalid_argument& e) {
    throw FormatError(fmt::format("{}: tensor '{}': {}", path(), name, e.what()));
  }
  return out;
}

}  // namespace seer::io
