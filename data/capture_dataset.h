// The complete sequences of several capture files (data/capture_file.h) as one indexed dataset,
// for offline distillation at any capture size: the index holds names and lengths only, and a
// step's samples are read on demand straight into stacked (optionally pinned) batch tensors, with
// only the pooling channels the gates read and in the stored dtype (float16 stays float16 until
// the device casts it and puts the poolings in the gate's order).
//
//   auto files = capture_files("runs/paper_ppl/default/capture");   // folder, file or glob
//   CaptureDataset data(files, /*max_sequences=*/0);
//   core::DistillBatch b = data.read_batch({3, 17, 5}, layout);
//
// Order: files by name, sequences by name within a file (the capture's order: seq_00000, ...).
// Every file must describe the same capture (model, block size, heads, layers, dtypes): DataError
// naming the file and the attribute otherwise. Not thread-safe (HDF5 is entered by one thread at
// a time): DistillPrefetcher reads it from its one background thread.
#pragma once

#include "core/gate/distill_batch.h"
#include "data/capture_file.h"

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace seer::data {

// Capture files at `location`: a folder (its *.h5 files by name), one .h5 file, or a glob pattern
// (`runs/x/capture/capture_000*.h5`). DataError when nothing matches.
std::vector<std::filesystem::path> capture_files(const std::string& location);

// What a training read loads: the pooling kinds per side a gate reads (its q_pools / k_pools; the
// batch holds them in stored order, DistillGroup::q_kinds / k_kinds say which) and whether the
// stacked tensors go to pinned host memory (GPU training).
struct CaptureReadLayout {
  std::vector<kernels::PoolKind> q_kinds = core::capture_pool_kinds();
  std::vector<kernels::PoolKind> k_kinds = core::capture_pool_kinds();
  bool pin = false;
};

class CaptureDataset {
 public:
  struct Entry {
    int64_t file = 0;             // index into files()
    std::string id;               // sequence name in its file
    int64_t length = 0;           // tokens
    std::vector<int64_t> layers;  // ascending
  };

  // max_sequences > 0 keeps the first that many complete sequences (capture order).
  explicit CaptureDataset(std::vector<std::filesystem::path> files, int64_t max_sequences = 0);
  ~CaptureDataset();
  CaptureDataset(CaptureDataset&&) noexcept;
  CaptureDataset& operator=(CaptureDataset&&) noexcept;

  int64_t size() const { return static_cast<int64_t>(entries_.size()); }
  const Entry& entry(int64_t i) const { return entries_.at(static_cast<size_t>(i)); }
  const CaptureFileInfo& info() const { return info_; }
  const std::vector<std::filesystem::path>& files() const { return files_; }
  // Sum of the sequences' lengths.
  int64_t tokens() const;

  // Sequences `indices` (in this order; repeats allowed) stacked into groups of one shape
  // (core::group_distill_samples' rule: same length and layers), read straight into the group
  // tensors.
  core::DistillBatch read_batch(const std::vector<int64_t>& indices,
                                const CaptureReadLayout& layout) const;

 private:
  std::vector<std::filesystem::path> files_;
  std::vector<std::unique_ptr<CaptureReader>> readers_;
  std::vector<Entry> entries_;
  CaptureFileInfo info_;
};

}  // namespace seer::data
