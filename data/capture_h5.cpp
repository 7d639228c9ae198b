#include "data/capture_h5.h"

#include <fmt/format.h>

#include <algorithm>

namespace seer::data::capture_h5 {
namespace {

constexpr int kVersion = 1;

H5Handle string_type() {
  H5Handle t(H5Tcopy(H5T_C_S1), H5Tclose, "H5Tcopy");
  H5Tset_size(t.get(), H5T_VARIABLE);
  H5Tset_cset(t.get(), H5T_CSET_UTF8);
  return t;
}

// An attribute `name` of `obj` replaced by a new one of `type` and `space`.
H5Handle new_attr(hid_t obj, const char* name, hid_t type, hid_t space) {
  if (H5Aexists(obj, name) > 0)
    h5_check(H5Adelete(obj, name), fmt::format("delete attribute '{}'", name));
  return H5Handle(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose,
                  fmt::format("create attribute '{}'", name));
}

}  // namespace

void write_attr_i64(hid_t obj, const char* name, int64_t v) {
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose, "H5Screate");
  H5Handle a = new_attr(obj, name, H5T_STD_I64LE, space.get());
  h5_check(H5Awrite(a.get(), H5T_NATIVE_INT64, &v), fmt::format("write attribute '{}'", name));
}

void write_attr_str(hid_t obj, const char* name, const std::string& v) {
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose, "H5Screate");
  H5Handle type = string_type();
  H5Handle a = new_attr(obj, name, type.get(), space.get());
  const char* p = v.c_str();
  h5_check(H5Awrite(a.get(), type.get(), &p), fmt::format("write attribute '{}'", name));
}

void write_attr_i64s(hid_t obj, const char* name, const std::vector<int64_t>& v) {
  const hsize_t n = v.size();
  H5Handle space(H5Screate_simple(1, &n, nullptr), H5Sclose, "H5Screate_simple");
  H5Handle a = new_attr(obj, name, H5T_STD_I64LE, space.get());
  if (n > 0)
    h5_check(H5Awrite(a.get(), H5T_NATIVE_INT64, v.data()),
             fmt::format("write attribute '{}'", name));
}

bool has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

int64_t read_attr_i64(hid_t obj, const char* name, const std::string& where) {
  if (!has_attr(obj, name)) throw DataError(fmt::format("{}: attribute '{}' missing", where, name));
  H5Handle a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, fmt::format("open attribute '{}'", name));
  int64_t v = 0;
  H5Aread(a.get(), H5T_NATIVE_INT64, &v);
  return v;
}

std::string read_attr_str(hid_t obj, const char* name, const std::string& where) {
  if (!has_attr(obj, name)) throw DataError(fmt::format("{}: attribute '{}' missing", where, name));
  H5Handle a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, fmt::format("open attribute '{}'", name));
  H5Handle type = string_type();
  char* p = nullptr;
  if (H5Aread(a.get(), type.get(), &p) < 0 || p == nullptr)
    throw DataError(fmt::format("{}: attribute '{}' is not a string", where, name));
  std::string s(p);
  H5free_memory(p);
  return s;
}

std::vector<int64_t> read_attr_i64s(hid_t obj, const char* name, const std::string& where) {
  if (!has_attr(obj, name)) throw DataError(fmt::format("{}: attribute '{}' missing", where, name));
  H5Handle a(H5Aopen(obj, name, H5P_DEFAULT), H5Aclose, fmt::format("open attribute '{}'", name));
  H5Handle space(H5Aget_space(a.get()), H5Sclose, "H5Aget_space");
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  std::vector<int64_t> v(static_cast<size_t>(std::max<hssize_t>(n, 0)));
  if (!v.empty()) H5Aread(a.get(), H5T_NATIVE_INT64, v.data());
  return v;
}

std::vector<std::string> child_names(hid_t group) {
  H5G_info_t gi;
  h5_check(H5Gget_info(group, &gi), "HDF5: list a group");
  std::vector<std::string> names;
  for (hsize_t i = 0; i < gi.nlinks; ++i) {
    const ssize_t len = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0,
                                           H5P_DEFAULT);
    if (len < 0) throw hdf5_failure("HDF5: read a link name");
    std::string name(static_cast<size_t>(len), '\0');
    H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), len + 1, H5P_DEFAULT);
    names.push_back(name);
  }
  return names;
}

std::vector<int64_t> dataset_dims(hid_t ds) {
  H5Handle space(H5Dget_space(ds), H5Sclose, "H5Dget_space");
  std::vector<hsize_t> dims(static_cast<size_t>(H5Sget_simple_extent_ndims(space.get())));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

void write_info(hid_t root, const CaptureFileInfo& info) {
  write_attr_str(root, "format", "seer-capture");
  write_attr_i64(root, "version", kVersion);
  write_attr_str(root, "model", info.model);
  write_attr_i64(root, "block_size", info.block_size);
  write_attr_i64(root, "num_layers", info.num_layers);
  write_attr_i64(root, "num_q_heads", info.num_q_heads);
  write_attr_i64(root, "num_kv_heads", info.num_kv_heads);
  write_attr_i64(root, "head_dim", info.head_dim);
  write_attr_str(root, "pool_kinds", "avg,max,min");
  write_attr_str(root, "g_dtype", info.g_dtype);
  write_attr_str(root, "qk_dtype", info.qk_dtype);
  write_attr_i64(root, "q_subblocks", info.q_subblocks);
  write_attr_i64s(root, "layers", info.layers);
  write_attr_i64s(root, "heads", info.heads);
}

CaptureFileInfo read_info(hid_t root, const std::string& where) {
  if (read_attr_str(root, "format", where) != "seer-capture")
    throw DataError(fmt::format("{}: attribute 'format' is not 'seer-capture'", where));
  const int64_t version = read_attr_i64(root, "version", where);
  if (version != kVersion)
    throw DataError(fmt::format("{}: version {} (this build reads {})", where, version, kVersion));
  CaptureFileInfo info;
  info.model = read_attr_str(root, "model", where);
  info.block_size = read_attr_i64(root, "block_size", where);
  info.num_layers = read_attr_i64(root, "num_layers", where);
  info.num_q_heads = read_attr_i64(root, "num_q_heads", where);
  info.num_kv_heads = read_attr_i64(root, "num_kv_heads", where);
  info.head_dim = read_attr_i64(root, "head_dim", where);
  info.g_dtype = read_attr_str(root, "g_dtype", where);
  info.qk_dtype = has_attr(root, "qk_dtype") ? read_attr_str(root, "qk_dtype", where) : "float32";
  info.q_subblocks =
      has_attr(root, "q_subblocks") ? read_attr_i64(root, "q_subblocks", where) : 1;
  if (info.q_subblocks < 1 || info.block_size % info.q_subblocks != 0)
    throw DataError(fmt::format("{}: attribute 'q_subblocks' = {} does not divide block_size {}",
                                where, info.q_subblocks, info.block_size));
  info.layers = read_attr_i64s(root, "layers", where);
  info.heads = read_attr_i64s(root, "heads", where);
  return info;
}

}  // namespace seer::data::capture_h5
