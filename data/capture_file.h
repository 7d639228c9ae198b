// The capture file (issue 6 §2): HDF5, readable by h5py, one group per captured sequence:
//
//   /                      attrs format = "seer-capture", version, model, block_size, num_layers,
//                          num_q_heads, num_kv_heads, head_dim, pool_kinds = "avg,max,min",
//                          g_dtype, layers [..], heads [..] (the selection; empty = all),
//                          q_subblocks (s, Q rows per block; 1 when absent)
//   /sequences/<id>/       attrs sequence_id, length, num_blocks, complete (written LAST)
//     layer_<l>/           attrs layer, block_size, num_heads
//       G        [H_sel, nb, nb]   float16 or float32 (g_dtype), row-normalised block max-pool map
//       q_pooled [nb * s, Hq, 3D]  float16 or float32 (qk_dtype, a root attribute; float32 when
//                                  absent), pre-RoPE Q pooled per block / s tokens (avg | max |
//                                  min channels; core/gate/attn_gate.h pool_query_subblocks)
//       k_pooled [nb, Hkv, 3D]     as q_pooled
//       P        [H_sel, nb, nb]   optional gate scores (float32)
//       mask     [H_sel, nb, nb]   optional block masks (uint8)
//
// Datasets are chunked: G in one chunk, pooled Q/K one chunk per pooling kind ([nb, H, D]),
// so a reader that needs some poolings reads only their chunks. Compression is `none` or
// `deflate` (with shuffle); h5py reads both. A sequence counts only once its `complete` attribute
// exists; opening for append removes incomplete groups, so an interrupted capture resumes by
// skipping the complete sequences (has_sequence) and rewriting the rest.
//
// HDF5 is entered by one thread at a time: a writer or reader must not be used from two threads at
// once, nor beside another HDF5 user on a second thread.
#pragma once

#include "data/h5_handle.h"
#include "kernels/attention.h"

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
  std::string qk_dtype = "float32"; // float16 | float32: pooled Q/K
  int64_t q_subblocks = 1;          // pooled Q rows per block
};

// Throws DataError naming `where` and the first attribute in which `have` differs from `want`
// (files of one capture must agree on everything but their sequences).
void check_same_capture(const CaptureFileInfo& have, const CaptureFileInfo& want,
                        const std::string& where);

// The tensor dtype of a g_dtype / qk_dtype name.
at::ScalarType capture_dtype(const std::string& name);

// The stored pooling kinds a reader needs for a gate that reads `wanted`: those kinds, in stored
// order (avg, max, min), so they can be read without reordering (the gate selects on the device).
std::vector<kernels::PoolKind> capture_read_kinds(const std::vector<kernels::PoolKind>& wanted);

struct CaptureLayerData {
  int64_t layer = 0;
  at::Tensor g;         // [H_sel, nb, nb]
  at::Tensor q_pooled;  // [nb * q_subblocks, Hq, 3D] (may be undefined)
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
  // the file and the attribute otherwise) and incomplete sequences are removed. `compression`:
  // none | deflate (for the datasets written by this writer).
  CaptureWriter(const std::filesystem::path& path, const CaptureFileInfo& info,
                const std::string& compression = "none");
  ~CaptureWriter();   // closing may write, on whichever thread destroys it
  bool has_sequence(const std::string& id) const;   // complete
  std::vector<std::string> sequences() const;        // complete, in name order
  // Replaces an incomplete one; flushes. Tensors may sit on any device in any float dtype: they
  // are stored as g_dtype / qk_dtype. Throws DataError when a value overflows float16.
  void write(const CaptureSequence& seq);
  const std::filesystem::path& path() const { return path_; }

 private:
  void write_sequence(const CaptureSequence& seq);

  std::filesystem::path path_;
  CaptureFileInfo info_;
  bool deflate_ = false;
  H5Handle file_;
  H5Handle sequences_;
  std::vector<std::string> complete_;   // sorted group names
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

  // A training read of one layer, straight into the caller's buffers (contiguous CPU float16 or
  // float32, e.g. slices of pinned batch tensors; HDF5 converts when the stored type differs):
  // G whole into g_dst [H_sel, nb, nb]; of pooled Q and K only the channels of `q_kinds` /
  // `k_kinds`, which must be in stored order (avg, max, min; capture_read_kinds()), into
  // q_dst [nb, Hq, D * |q_kinds|] / k_dst [nb, Hkv, D * |k_kinds|]. Stored pooling kinds next to
  // each other come in one read.
  void read_training_layer(const std::string& id, int64_t layer,
                           const std::vector<kernels::PoolKind>& q_kinds,
                           const std::vector<kernels::PoolKind>& k_kinds, const at::Tensor& q_dst,
                           const at::Tensor& k_dst, const at::Tensor& g_dst) const;

 private:
  std::filesystem::path path_;
  CaptureFileInfo info_;
  H5Handle file_;
};

}  // namespace seer::data
