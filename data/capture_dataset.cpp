#include "data/capture_dataset.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <glob.h>

#include <algorithm>

namespace fs = std::filesystem;

namespace seer::data {
namespace {

std::vector<fs::path> glob_paths(const std::string& pattern) {
  glob_t g{};
  std::vector<fs::path> out;
  if (::glob(pattern.c_str(), 0, nullptr, &g) == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
  globfree(&g);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::vector<fs::path> capture_files(const std::string& location) {
  const fs::path p(location);
  std::vector<fs::path> out;
  if (fs::is_directory(p)) {
    for (const auto& e : fs::directory_iterator(p))
      if (e.is_regular_file() && e.path().extension() == ".h5") out.push_back(e.path());
    std::sort(out.begin(), out.end());
  } else if (fs::is_regular_file(p)) {
    out.push_back(p);
  } else if (location.find_first_of("*?[") != std::string::npos) {
    out = glob_paths(location);
  }
  if (out.empty())
    throw DataError(fmt::format("{}: no capture files (expected a folder of .h5 files, a .h5 file "
                                "or a glob pattern)", location));
  return out;
}

CaptureDataset::CaptureDataset(std::vector<fs::path> files, int64_t max_sequences)
    : files_(std::move(files)) {
  if (files_.empty()) throw DataError("capture dataset: no files");
  for (size_t f = 0; f < files_.size(); ++f) {
    auto reader = std::make_unique<CaptureReader>(files_[f]);
    if (f == 0) info_ = reader->info();
    else check_same_capture(reader->info(), info_, files_[f].string());
    for (const auto& id : reader->sequences()) {
      if (max_sequences > 0 && size() >= max_sequences) break;
      entries_.push_back({static_cast<int64_t>(f), id, reader->length(id), reader->layers(id)});
    }
    readers_.push_back(std::move(reader));
    if (max_sequences > 0 && size() >= max_sequences) break;
  }
  files_.resize(readers_.size());
}

CaptureDataset::~CaptureDataset() = default;
CaptureDataset::CaptureDataset(CaptureDataset&&) noexcept = default;
CaptureDataset& CaptureDataset::operator=(CaptureDataset&&) noexcept = default;

int64_t CaptureDataset::tokens() const {
  int64_t n = 0;
  for (const auto& e : entries_) n += e.length;
  return n;
}

core::DistillBatch CaptureDataset::read_batch(const std::vector<int64_t>& indices,
                                              const CaptureReadLayout& layout) const {
  // Group members, by (length, layers), in order of first appearance.
  std::vector<std::vector<int64_t>> members;
  for (int64_t i : indices) {
    if (i < 0 || i >= size())
      throw DataError(fmt::format("capture dataset: sequence index {} outside [0, {})", i, size()));
    const Entry& e = entries_[static_cast<size_t>(i)];
    auto it = std::find_if(members.begin(), members.end(), [&](const std::vector<int64_t>& m) {
      const Entry& f = entries_[static_cast<size_t>(m.front())];
      return f.length == e.length && f.layers == e.layers;
    });
    if (it == members.end()) members.push_back({i});
    else it->push_back(i);
  }
  const int64_t b = info_.block_size, D = info_.head_dim;
  const int64_t Hq = info_.num_q_heads, Hkv = info_.num_kv_heads;
  const int64_t Hg = info_.heads.empty() ? Hq : static_cast<int64_t>(info_.heads.size());
  const auto g_dtype = capture_dtype(info_.g_dtype), qk_dtype = capture_dtype(info_.qk_dtype);
  // The gate's poolings in stored order: adjacent ones come in one read, and the trainer puts
  // them in the gate's order on the device.
  const auto q_kinds = capture_read_kinds(layout.q_kinds);
  const auto k_kinds = capture_read_kinds(layout.k_kinds);
  const int64_t nq = static_cast<int64_t>(q_kinds.size());
  const int64_t nk = static_cast<int64_t>(k_kinds.size());
  core::DistillBatch batch;
  for (const auto& m : members) {
    const Entry& first = entries_[static_cast<size_t>(m.front())];
    const int64_t B = static_cast<int64_t>(m.size()), nb = (first.length + b - 1) / b;
    core::DistillGroup g;
    g.tokens = first.length;
    g.layers = first.layers;
    g.heads = info_.heads;
    g.q_kinds = q_kinds;
    g.k_kinds = k_kinds;
    auto alloc = [&](std::vector<int64_t> sizes, at::ScalarType dtype) {
      return at::empty(sizes, at::TensorOptions().dtype(dtype).pinned_memory(layout.pin));
    };
    for (size_t l = 0; l < first.layers.size(); ++l) {
      g.q_pooled.push_back(alloc({B, nb * info_.q_subblocks, Hq, D * nq}, qk_dtype));
      g.k_pooled.push_back(alloc({B, nb, Hkv, D * nk}, qk_dtype));
      g.g.push_back(alloc({B, Hg, nb, nb}, g_dtype));
    }
    for (int64_t s = 0; s < B; ++s) {
      const Entry& e = entries_[static_cast<size_t>(m[static_cast<size_t>(s)])];
      const CaptureReader& r = *readers_[static_cast<size_t>(e.file)];
      g.ids.push_back(e.id);
      g.files.push_back(files_[static_cast<size_t>(e.file)].string());
      for (size_t l = 0; l < e.layers.size(); ++l)
        r.read_training_layer(e.id, e.layers[l], q_kinds, k_kinds, g.q_pooled[l].select(0, s),
                              g.k_pooled[l].select(0, s), g.g[l].select(0, s));
    }
    batch.groups.push_back(std::move(g));
  }
  return batch;
}

}  // namespace seer::data
