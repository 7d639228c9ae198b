// Safetensors reader: one memory-mapped file (8-byte header length, JSON header, raw data) or a
// sharded checkpoint via model.safetensors.index.json. Errors name the file and the tensor.
#pragma once

#include "core/io/mapped_file.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace seer::io {

struct SafetensorInfo {
  std::string dtype;            // "F32", "F16", "BF16", "F64", "I64", "I32", "I8", "U8", "BOOL"
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte offsets in the data section
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_->path(); }
  bool has(const std::string& name) const { return infos_.count(name) != 0; }
  const SafetensorInfo& info(const std::string& name) const;
  std::vector<std::string> names() const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Copy of the tensor (CPU) converted to `dtype`; floating tensors only convert between
  // floating dtypes (an integer tensor asked for as float is a dtype error).
  at::Tensor load(const std::string& name, at::ScalarType dtype) const;
  at::Tensor load(const std::string& name) const;   // stored dtype

 private:
  std::shared_ptr<MappedFile> file_;
  uint64_t data_offset_ = 0;
  std::map<std::string, SafetensorInfo> infos_;
  std::map<std::string, std::string> metadata_;
};

// A checkpoint directory (or a single .safetensors file): model.safetensors, or shards listed by
// model.safetensors.index.json ("weight_map").
class SafetensorsCheckpoint {
 public:
  explicit SafetensorsCheckpoint(const std::string& path);

  bool has(const std::string& name) const;
  // Loads `name`, checks it has `shape` (FormatError naming file, tensor, both shapes), converts.
  at::Tensor load(const std::string& name, const std::vector<int64_t>& shape, at::ScalarType dtype) const;
  std::string describe() const;   // the file or index path, for messages

 private:
  const SafetensorsFile& file_for(const std::string& name) const;
  std::string root_;
  std::string index_path_;
  std::map<std::string, std::string> weight_map_;                     // tensor -> shard file name
  mutable std::map<std::string, std::unique_ptr<SafetensorsFile>> shards_;
};

at::ScalarType safetensors_dtype(const std::string& dtype, const std::string& file, const std::string& tensor);

}  // namespace seer::io
