// Writes a .safetensors file (8-byte little-endian header length, JSON header with dtype, shape and
// data_offsets per tensor plus "__metadata__", then the raw little-endian data), atomically
// (temp file + rename). Reading goes through core/io/safetensors.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace seer::core {

// Tensors are written in their own dtype (F64, F32, F16, BF16, I64, I32, U8, BOOL), CPU-contiguous
// copies taken as needed; names must be unique.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace seer::core
