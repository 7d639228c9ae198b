#include "data/capture_file.h"

#include "core/gate/distill_batch.h"
#include "data/capture_h5.h"
#include "data/h5_error.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace fs = std::filesystem;

namespace seer::data {

using namespace capture_h5;

namespace {

H5Handle half_type() {
  // IEEE binary16 as h5py writes numpy float16 (h5py reads it back as float16).
  H5Handle t(H5Tcopy(H5T_IEEE_F32LE), H5Tclose, "H5Tcopy");
  H5Tset_fields(t.get(), 15, 10, 5, 0, 10);
  H5Tset_size(t.get(), 2);
  H5Tset_ebias(t.get(), 15);
  return t;
}

std::string group_name(const std::string& id) {
  std::string s = id;
  std::replace(s.begin(), s.end(), '/', '_');
  if (s.empty() || s == "." || s == "..") s = "_" + s;
  return s;
}

// A chunked dataset from a CPU tensor, `chunk` giving the chunk's extent per axis; deflate adds
// the shuffle filter before zlib level 4.
void write_dataset(hid_t group, const char* name, const at::Tensor& t, hid_t file_type,
                   hid_t mem_type, std::vector<hsize_t> chunk, bool deflate) {
  auto c = t.contiguous();
  std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
  for (auto& x : chunk) x = std::max<hsize_t>(x, 1);
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose,
                 "H5Screate_simple");
  H5Handle plist(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "H5Pcreate");
  const bool empty = std::any_of(dims.begin(), dims.end(), [](hsize_t d) { return d == 0; });
  if (!empty) {
    H5Pset_chunk(plist.get(), static_cast<int>(chunk.size()), chunk.data());
    if (deflate) {
      H5Pset_shuffle(plist.get());
      H5Pset_deflate(plist.get(), 4);
    }
  }
  H5Handle ds(H5Dcreate2(group, name, file_type, space.get(), H5P_DEFAULT, plist.get(), H5P_DEFAULT),
              H5Dclose, fmt::format("create dataset '{}'", name));
  if (!empty)
    h5_check(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr()),
             fmt::format("write dataset '{}'", name));
  // Closing writes the cached chunks: where a full disk shows.
  h5_check(ds.close(), fmt::format("write dataset '{}'", name));
}

// Chunk of a [H, nb, nb] map: all of it (always read whole; one chunk reads ~15% faster than one
// per head). Of pooled [nb, H, P * D]: one pooling kind, so a reader can take only the kinds it needs.
std::vector<hsize_t> map_chunk(const at::Tensor& t) {
  return std::vector<hsize_t>(t.sizes().begin(), t.sizes().end());
}
std::vector<hsize_t> pooled_chunk(const at::Tensor& t, int64_t head_dim) {
  std::vector<hsize_t> c(t.sizes().begin(), t.sizes().end());
  if (c.size() == 3 && head_dim > 0 && t.size(2) % head_dim == 0) c[2] = head_dim;
  return c;
}

bool stored_as_half(hid_t ds) {
  H5Handle type(H5Dget_type(ds), H5Tclose, "H5Dget_type");
  return H5Tget_class(type.get()) == H5T_FLOAT && H5Tget_size(type.get()) == 2;
}

// The whole dataset as a tensor of its stored float type (float16 or float32; uint8 when as_bool,
// converted to bool), so float16 never goes through HDF5's slow soft conversion.
at::Tensor read_dataset(hid_t group, const char* name, bool as_bool, const std::string& where) {
  H5Handle ds(H5Dopen2(group, name, H5P_DEFAULT), H5Dclose,
              fmt::format("{}: open dataset '{}'", where, name));
  H5Handle space(H5Dget_space(ds.get()), H5Sclose, "H5Dget_space");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  std::vector<int64_t> sizes(dims.begin(), dims.end());
  const bool half = !as_bool && stored_as_half(ds.get());
  H5Handle half_mem = half_type();
  auto t = at::empty(sizes, as_bool ? at::kByte : half ? at::kHalf : at::kFloat);
  const hid_t mem = as_bool ? H5T_NATIVE_UINT8 : half ? half_mem.get() : H5T_NATIVE_FLOAT;
  if (t.numel() > 0 && H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()) < 0)
    throw DataError(fmt::format("{}: reading dataset '{}' failed", where, name));
  return as_bool ? t.to(at::kBool) : t;
}

}  // namespace

void check_same_capture(const CaptureFileInfo& have, const CaptureFileInfo& want,
                        const std::string& where) {
  auto mismatch = [&](const char* key, const std::string& a, const std::string& b) {
    if (a != b)
      throw DataError(fmt::format("{}: attribute '{}' = {} but this capture has {}; use a new file",
                                  where, key, a, b));
  };
  mismatch("model", have.model, want.model);
  mismatch("block_size", std::to_string(have.block_size), std::to_string(want.block_size));
  mismatch("num_layers", std::to_string(have.num_layers), std::to_string(want.num_layers));
  mismatch("num_q_heads", std::to_string(have.num_q_heads), std::to_string(want.num_q_heads));
  mismatch("num_kv_heads", std::to_string(have.num_kv_heads), std::to_string(want.num_kv_heads));
  mismatch("head_dim", std::to_string(have.head_dim), std::to_string(want.head_dim));
  mismatch("layers", fmt::format("{}", fmt::join(have.layers, ",")),
           fmt::format("{}", fmt::join(want.layers, ",")));
  mismatch("heads", fmt::format("{}", fmt::join(have.heads, ",")),
           fmt::format("{}", fmt::join(want.heads, ",")));
  mismatch("g_dtype", have.g_dtype, want.g_dtype);
  mismatch("qk_dtype", have.qk_dtype, want.qk_dtype);
  mismatch("q_subblocks", std::to_string(have.q_subblocks), std::to_string(want.q_subblocks));
}

at::ScalarType capture_dtype(const std::string& name) {
  if (name == "float16") return at::kHalf;
  if (name == "float32") return at::kFloat;
  throw DataError(fmt::format("capture dtype '{}': expected float16 | float32", name));
}

namespace {

std::vector<std::string> complete_sequences(hid_t sequences) {
  std::vector<std::string> out;
  for (const auto& name : child_names(sequences)) {
    H5Handle g(H5Gopen2(sequences, name.c_str(), H5P_DEFAULT), H5Gclose, "open sequence group");
    if (has_attr(g.get(), "complete")) out.push_back(name);
  }
  return out;
}

}  // namespace

CaptureWriter::CaptureWriter(const fs::path& path, const CaptureFileInfo& info,
                             const std::string& compression)
    : path_(path), info_(info) {
  using Named = std::pair<const char*, std::string>;
  for (const auto& [key, value] : {Named{"g_dtype", info.g_dtype}, Named{"qk_dtype", info.qk_dtype}})
    if (value != "float16" && value != "float32")
      throw DataError(fmt::format("{}: {} '{}': expected float16 | float32", path.string(), key,
                                  value));
  if (compression != "none" && compression != "deflate")
    throw DataError(fmt::format("{}: compression '{}': expected none | deflate", path.string(),
                                compression));
  deflate_ = compression == "deflate";
  quiet_hdf5_errors();
  if (fs::exists(path)) {
    file_ = H5Handle(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose,
                     fmt::format("open {} for appending", path.string()));
    check_same_capture(read_info(file_.get(), path.string()), info, path.string());
    sequences_ = H5Handle(H5Gopen2(file_.get(), "sequences", H5P_DEFAULT), H5Gclose,
                          fmt::format("{}: open /sequences", path.string()));
    for (const auto& name : child_names(sequences_.get())) {
      bool complete = false;
      {
        H5Handle g(H5Gopen2(sequences_.get(), name.c_str(), H5P_DEFAULT), H5Gclose, "open group");
        complete = has_attr(g.get(), "complete");
      }
      if (complete) complete_.push_back(name);
      else h5_check(H5Ldelete(sequences_.get(), name.c_str(), H5P_DEFAULT),
                    fmt::format("{}: delete the incomplete sequence '{}'", path.string(), name));
    }
  } else {
    if (path.has_parent_path()) fs::create_directories(path.parent_path());
    file_ = H5Handle(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
                     fmt::format("create {}", path.string()));
    try {
      write_info(file_.get(), info);
    } catch (const DataError& e) {
      throw DataError(fmt::format("{}: {}", path.string(), e.what()));
    }
    sequences_ = H5Handle(H5Gcreate2(file_.get(), "sequences", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                          H5Gclose, fmt::format("{}: create /sequences", path.string()));
  }
  std::sort(complete_.begin(), complete_.end());
  h5_check(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), fmt::format("{}: flush", path.string()));
}

CaptureWriter::~CaptureWriter() { quiet_hdf5_errors(); }

bool CaptureWriter::has_sequence(const std::string& id) const {
  return std::binary_search(complete_.begin(), complete_.end(), group_name(id));
}

std::vector<std::string> CaptureWriter::sequences() const { return complete_; }

void CaptureWriter::write(const CaptureSequence& seq) {
  const std::string where = fmt::format("{}: sequence '{}'", path_.string(), seq.id);
  if (has_sequence(seq.id)) throw DataError(where + " is already complete");
  quiet_hdf5_errors();
  try {
    write_sequence(seq);
  } catch (const DataError& e) {
    throw DataError(fmt::format("{}: {}", where, e.what()));
  }
}

void CaptureWriter::write_sequence(const CaptureSequence& seq) {
  const std::string name = group_name(seq.id);
  if (H5Lexists(sequences_.get(), name.c_str(), H5P_DEFAULT) > 0)
    h5_check(H5Ldelete(sequences_.get(), name.c_str(), H5P_DEFAULT), "delete its incomplete group");
  H5Handle g(H5Gcreate2(sequences_.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
             H5Gclose, "create group");
  write_attr_str(g.get(), "sequence_id", seq.id);
  write_attr_i64(g.get(), "length", seq.length);
  write_attr_i64(g.get(), "num_blocks", (seq.length + info_.block_size - 1) / info_.block_size);
  H5Handle half = half_type();
  const bool g_half = info_.g_dtype == "float16", qk_half = info_.qk_dtype == "float16";
  for (const auto& l : seq.layers) {
    const std::string lname = fmt::format("layer_{:03d}", l.layer);
    H5Handle lg(H5Gcreate2(g.get(), lname.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Gclose, "create " + lname);
    TORCH_CHECK(l.g.defined() && l.g.dim() == 3, path_.string(), ": sequence '", seq.id,
                "' layer ", l.layer,
                ": G must be [H_sel, nb, nb], got ", l.g.defined() ? l.g.sizes() : at::IntArrayRef{});
    write_attr_i64(lg.get(), "layer", l.layer);
    write_attr_i64(lg.get(), "block_size", info_.block_size);
    write_attr_i64(lg.get(), "num_heads", l.g.size(0));
    auto stored = [&](const at::Tensor& t, bool half_out, const char* what) {
      auto host = t.detach().to(at::kCPU);
      if (!half_out) return host.to(at::kFloat);
      if (host.scalar_type() != at::kHalf) {
        // float16 holds |x| <= 65504; larger values would become inf without a word.
        const double peak = host.abs().max().item<double>();
        if (!(peak <= 65504.0))
          throw DataError(fmt::format("layer {}: {} reaches |x| = {:g}, beyond float16; "
                                      "capture with float32", l.layer, what, peak));
      }
      return host.to(at::kHalf);
    };
    const hid_t g_type = g_half ? half.get() : H5T_IEEE_F32LE;
    const hid_t g_mem = g_half ? half.get() : H5T_NATIVE_FLOAT;
    const auto gt = stored(l.g, g_half, "G");
    write_dataset(lg.get(), "G", gt, g_type, g_mem, map_chunk(gt), deflate_);
    const hid_t qk_type = qk_half ? half.get() : H5T_IEEE_F32LE;
    const hid_t qk_mem = qk_half ? half.get() : H5T_NATIVE_FLOAT;
    if (l.q_pooled.defined()) {
      const auto q = stored(l.q_pooled, qk_half, "q_pooled");
      write_dataset(lg.get(), "q_pooled", q, qk_type, qk_mem, pooled_chunk(q, info_.head_dim),
                    deflate_);
    }
    if (l.k_pooled.defined()) {
      const auto k = stored(l.k_pooled, qk_half, "k_pooled");
      write_dataset(lg.get(), "k_pooled", k, qk_type, qk_mem, pooled_chunk(k, info_.head_dim),
                    deflate_);
    }
    if (l.p.defined()) {
      const auto p = l.p.detach().to(at::kCPU, at::kFloat);
      write_dataset(lg.get(), "P", p, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, map_chunk(p), deflate_);
    }
    if (l.mask.defined()) {
      const auto m = l.mask.detach().to(at::kCPU, at::kByte);
      write_dataset(lg.get(), "mask", m, H5T_STD_U8LE, H5T_NATIVE_UINT8, map_chunk(m), deflate_);
    }
  }
  // Data reaches the file before the marker does, so a crash never leaves a "complete" sequence
  // with missing data; a failed flush throws before the marker is written.
  h5_check(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "flush its data");
  write_attr_i64(g.get(), "complete", 1);
  h5_check(g.close(), "close its group");
  h5_check(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "flush its complete mark");
  complete_.insert(std::upper_bound(complete_.begin(), complete_.end(), name), name);
}

CaptureReader::CaptureReader(const fs::path& path) : path_(path) {
  if (!fs::exists(path)) throw DataError(fmt::format("{}: no such capture file", path.string()));
  quiet_hdf5_errors();
  file_ = H5Handle(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose,
                   fmt::format("open {}", path.string()));
  info_ = read_info(file_.get(), path.string());
}

std::vector<std::string> CaptureReader::sequences() const {
  quiet_hdf5_errors();
  H5Handle s(H5Gopen2(file_.get(), "sequences", H5P_DEFAULT), H5Gclose,
             fmt::format("{}: open /sequences", path_.string()));
  return complete_sequences(s.get());
}

int64_t CaptureReader::length(const std::string& id) const {
  quiet_hdf5_errors();
  H5Handle g(H5Gopen2(file_.get(), ("sequences/" + group_name(id)).c_str(), H5P_DEFAULT), H5Gclose,
             fmt::format("{}: open sequence '{}'", path_.string(), id));
  return read_attr_i64(g.get(), "length", path_.string() + ": " + id);
}

std::vector<int64_t> CaptureReader::layers(const std::string& id) const {
  quiet_hdf5_errors();
  H5Handle g(H5Gopen2(file_.get(), ("sequences/" + group_name(id)).c_str(), H5P_DEFAULT), H5Gclose,
             fmt::format("{}: open sequence '{}'", path_.string(), id));
  std::vector<int64_t> out;
  for (const auto& name : child_names(g.get()))
    if (name.rfind("layer_", 0) == 0) out.push_back(std::stoll(name.substr(6)));
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// The group of one layer of one sequence; DataError naming it when absent.
H5Handle open_layer(hid_t file, const fs::path& path, const std::string& id, int64_t layer,
                    std::string* where) {
  const std::string gpath = fmt::format("sequences/{}/layer_{:03d}", group_name(id), layer);
  *where = fmt::format("{}: /{}", path.string(), gpath);
  if (H5Lexists(file, ("sequences/" + group_name(id)).c_str(), H5P_DEFAULT) <= 0 ||
      H5Lexists(file, gpath.c_str(), H5P_DEFAULT) <= 0)
    throw DataError(*where + ": not in the file");
  return H5Handle(H5Gopen2(file, gpath.c_str(), H5P_DEFAULT), H5Gclose, *where);
}

}  // namespace

CaptureLayerData CaptureReader::read_layer(const std::string& id, int64_t layer) const {
  quiet_hdf5_errors();
  std::string where;
  H5Handle g = open_layer(file_.get(), path_, id, layer, &where);
  CaptureLayerData d;
  d.layer = layer;
  auto f32 = [](at::Tensor t) { return t.defined() ? t.to(at::kFloat) : t; };
  d.g = f32(read_dataset(g.get(), "G", false, where));
  auto optional = [&](const char* name, bool as_bool) {
    return H5Lexists(g.get(), name, H5P_DEFAULT) > 0 ? read_dataset(g.get(), name, as_bool, where)
                                                     : at::Tensor();
  };
  d.q_pooled = f32(optional("q_pooled", false));
  d.k_pooled = f32(optional("k_pooled", false));
  d.p = f32(optional("P", false));
  d.mask = optional("mask", true);
  return d;
}

namespace {

// Reads the channels of `slots` (ascending stored pooling slots, D channels each, of a dataset
// [rows, H, 3D]) into dst [rows, H, D * |slots|]: one H5Dread per run of adjacent slots.
void read_slots(hid_t ds, const std::vector<int64_t>& slots, int64_t D, const at::Tensor& dst,
                hid_t mem, const std::string& where) {
  const auto dims = dataset_dims(ds);
  if (dims.size() != 3 || dims[2] != 3 * D)
    throw DataError(fmt::format("{}: stored as [{}], expected [rows, H, 3 * {}]", where,
                                fmt::join(dims, ", "), D));
  const int64_t n = static_cast<int64_t>(slots.size());
  if (dst.sizes() != at::IntArrayRef({dims[0], dims[1], D * n}))
    throw DataError(fmt::format("{}: {} pooling kinds of [{}] do not fit a destination of [{}]",
                                where, n, fmt::join(dims, ", "), fmt::join(dst.sizes(), ", ")));
  if (dst.numel() == 0) return;
  const hsize_t file_dims[3] = {static_cast<hsize_t>(dims[0]), static_cast<hsize_t>(dims[1]),
                                static_cast<hsize_t>(3 * D)};
  const hsize_t mem_dims[3] = {file_dims[0], file_dims[1], static_cast<hsize_t>(D * n)};
  for (int64_t j = 0; j < n;) {
    int64_t run = 1;
    while (j + run < n && slots[j + run] == slots[j] + run) ++run;
    const hsize_t count[3] = {file_dims[0], file_dims[1], static_cast<hsize_t>(run * D)};
    const hsize_t fstart[3] = {0, 0, static_cast<hsize_t>(slots[j] * D)};
    const hsize_t mstart[3] = {0, 0, static_cast<hsize_t>(j * D)};
    H5Handle fspace(H5Screate_simple(3, file_dims, nullptr), H5Sclose, "H5Screate_simple");
    H5Handle mspace(H5Screate_simple(3, mem_dims, nullptr), H5Sclose, "H5Screate_simple");
    H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, fstart, nullptr, count, nullptr);
    H5Sselect_hyperslab(mspace.get(), H5S_SELECT_SET, mstart, nullptr, count, nullptr);
    if (H5Dread(ds, mem, mspace.get(), fspace.get(), H5P_DEFAULT, dst.data_ptr()) < 0)
      throw DataError(where + ": read failed");
    j += run;
  }
}

std::vector<int64_t> stored_slots(const std::vector<kernels::PoolKind>& kinds,
                                  const std::string& where) {
  const auto& order = core::capture_pool_kinds();
  std::vector<int64_t> slots;
  for (auto k : kinds) slots.push_back(std::find(order.begin(), order.end(), k) - order.begin());
  if (!std::is_sorted(slots.begin(), slots.end()) ||
      std::adjacent_find(slots.begin(), slots.end()) != slots.end())
    throw DataError(where + ": pooling kinds must be distinct and in stored order (avg, max, min)");
  return slots;
}

}  // namespace

std::vector<kernels::PoolKind> capture_read_kinds(const std::vector<kernels::PoolKind>& wanted) {
  std::vector<kernels::PoolKind> out;
  for (auto k : core::capture_pool_kinds())
    if (std::find(wanted.begin(), wanted.end(), k) != wanted.end()) out.push_back(k);
  return out;
}

void CaptureReader::read_training_layer(const std::string& id, int64_t layer,
                                        const std::vector<kernels::PoolKind>& q_kinds,
                                        const std::vector<kernels::PoolKind>& k_kinds,
                                        const at::Tensor& q_dst, const at::Tensor& k_dst,
                                        const at::Tensor& g_dst) const {
  quiet_hdf5_errors();
  const std::string gpath = fmt::format("sequences/{}/layer_{:03d}", group_name(id), layer);
  const std::string where = fmt::format("{}: /{}", path_.string(), gpath);
  H5Handle g(H5Gopen2(file_.get(), gpath.c_str(), H5P_DEFAULT), H5Gclose, where + ": open");
  H5Handle half = half_type();
  for (const at::Tensor* t : {&q_dst, &k_dst, &g_dst})
    TORCH_CHECK(t->device().is_cpu() && t->is_contiguous() &&
                    (t->scalar_type() == at::kHalf || t->scalar_type() == at::kFloat),
                where, ": destinations must be contiguous CPU float16 or float32 tensors");
  auto mem = [&](const at::Tensor& t) {
    return t.scalar_type() == at::kHalf ? half.get() : H5T_NATIVE_FLOAT;
  };
  {
    H5Handle ds(H5Dopen2(g.get(), "G", H5P_DEFAULT), H5Dclose, where + "/G");
    const auto dims = dataset_dims(ds.get());
    if (g_dst.sizes() != at::IntArrayRef(dims))
      throw DataError(fmt::format("{}/G: stored as [{}], the destination is [{}]", where,
                                  fmt::join(dims, ", "), fmt::join(g_dst.sizes(), ", ")));
    if (g_dst.numel() > 0 &&
        H5Dread(ds.get(), mem(g_dst), H5S_ALL, H5S_ALL, H5P_DEFAULT, g_dst.data_ptr()) < 0)
      throw DataError(where + "/G: read failed");
  }
  const std::pair<const char*, std::pair<const std::vector<kernels::PoolKind>*, const at::Tensor*>>
      sides[2] = {{"q_pooled", {&q_kinds, &q_dst}}, {"k_pooled", {&k_kinds, &k_dst}}};
  for (const auto& [name, side] : sides) {
    const std::string dwhere = where + "/" + name;
    if (H5Lexists(g.get(), name, H5P_DEFAULT) <= 0)
      throw DataError(dwhere + ": not in the file (captured with pooled: false?)");
    H5Handle ds(H5Dopen2(g.get(), name, H5P_DEFAULT), H5Dclose, dwhere);
    read_slots(ds.get(), stored_slots(*side.first, dwhere), info_.head_dim, *side.second,
               mem(*side.second), dwhere);
  }
}

}  // namespace seer::data
