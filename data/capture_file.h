// The capture file (issue 6 §2): HDF5, readable by h5py, one group per captured sequence:
//
//   /                      attrs format = "seer-capture", version, model, block_size, num_layers,
//                          num_q_heads, num_kv_heads, head_dim, pool_kinds = "avg,max,min",
//                          g_dtype, layers [..], heads [..] (the selection; empty = all)
//   /sequences/<id>/       attrs sequence_id, length, num_blocks, complete (written LAST)
//     layer_<l>/           attrs layer, block_size, num_heads
//       G        [H_sel, nb, nb]   float16 or float32, row-normalised block max-pool map
//       q_pooled [nb, Hq, 3D]      float32, block-pooled pre-RoPE Q (avg | max | min channels)
//       k_pooled [nb, Hkv, 3D]     float32
//       P        [H_sel, nb, nb]   optional gate scores (float32)
//       mask     [H_sel, nb, nb]   optional block masks (uint8)
//
// Datasets are chunked and deflate-compressed (with shuffle). A sequence counts only once its
// `complete` attribute exists; opening for append removes incomplete groups, so an interrupted
// capture resumes by skipping the complete sequences (has_sequence) and rewriting the rest.
#pragma once

#include "data/h5_handle.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace seer::data {

struct CaptureFileInfo {
  std::string model;
  int64_t block_size = 64;
  int64_t num_layers = 0;
  int64_t num_q_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  std::vector<int64_t> layers;   // captured layers (empty = all)
  std::vector<int64_t> heads;    // query heads of G / P / mask (empty = all)
  std::string g_dtype = "float16";  // float16 | float32
};

struct CaptureLayerData {
  int64_t layer = 0;
  at::Tensor g;         // [H_sel, nb, nb]
  at::Tensor q_pooled;  // [nb, Hq, 3D] (may be undefined)
  at::Tensor k_pooled;  // [nb, Hkv, 3D] (may be undefined)
  at::Tensor p;         // optional [H_sel, nb, nb]
  at::Tensor mask;      // optional [H_sel, nb, nb] bool
};

struct CaptureSequence {
  std::string id;
  int64_t length = 0;   // tokens
  std::vector<CaptureLayerData> layers;
};

class CaptureWriter {
 public:
  // Creates `path`, or opens it for appending: the stored info must match `info` (DataError naming
  // the file and the attribute otherwise) and incomplete sequences are removed.
  CaptureWriter(const std::filesystem::path& path, const CaptureFileInfo& info);
  bool has_sequence(const std::string& id) const;   // complete
  std::vector<std::string> sequences() const;        // complete, in name order
  void write(const CaptureSequence& seq);            // replaces an incomplete one; flushes
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  CaptureFileInfo info_;
  H5Handle file_;
  H5Handle sequences_;
};

class CaptureReader {
 public:
  explicit CaptureReader(const std::filesystem::path& path);
  const CaptureFileInfo& info() const { return info_; }
  std::vector<std::string> sequences() const;  // complete, in name order
  int64_t length(const std::string& id) const;
  std::vector<int64_t> layers(const std::string& id) const;  // ascending
  // Tensors come back as float32 (mask as bool); optional datasets undefined when absent.
  CaptureLayerData read_layer(const std::string& id, int64_t layer) const;

 private:
  std::filesystem::path path_;
  CaptureFileInfo info_;
  H5Handle file_;
};

}  // namespace seer::data
