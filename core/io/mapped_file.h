// Read-only memory map of a whole file, shared by the checkpoint readers (safetensors, GGUF) so
// an 8B checkpoint is paged in on demand instead of being read into RAM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace seer::io {

// Errors about checkpoint/tokenizer files: the message names the file (and tensor or key).
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The most elements a tensor read from a checkpoint header may have: far beyond any real tensor,
// and small enough that element and byte counts cannot overflow 64 bits (checked by division).
constexpr int64_t kMaxTensorElements = int64_t{1} << 48;

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace seer::io
