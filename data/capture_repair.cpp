#include "data/capture_repair.h"

#include "data/capture_h5.h"
#include "data/h5_error.h"

#include <fmt/format.h>

#include <regex>

namespace fs = std::filesystem;

namespace seer::data {

using namespace capture_h5;

namespace {

// Throws when a stored chunk of the dataset ends past `data_end`.
void check_chunks_end_by(hid_t ds, uint64_t data_end, const std::string& where) {
  H5Handle space(H5Dget_space(ds), H5Sclose, "H5Dget_space");
  hsize_t chunks = 0;
  if (H5Dget_num_chunks(ds, space.get(), &chunks) < 0) return;   // not chunked (empty)
  for (hsize_t i = 0; i < chunks; ++i) {
    haddr_t addr = 0;
    hsize_t size = 0;
    h5_check(H5Dget_chunk_info(ds, space.get(), i, nullptr, nullptr, &addr, &size),
             "HDF5: chunk index of " + where);
    if (addr + size > data_end)
      throw DataError(fmt::format("{}: data at bytes [{}, {}) past the end of what was written "
                                  "({})", where, addr, addr + size, data_end));
  }
}

// Throws unless the sequence group `name` opens and, when marked complete, every layer's datasets
// open (with their chunks ending by `data_end` when given). Returns whether it is complete.
bool check_sequence(hid_t sequences, const std::string& name, std::optional<uint64_t> data_end) {
  H5Handle g(H5Gopen2(sequences, name.c_str(), H5P_DEFAULT), H5Gclose,
             fmt::format("open sequence '{}'", name));
  if (!has_attr(g.get(), "complete")) return false;
  read_attr_i64(g.get(), "length", name);
  for (const auto& layer : child_names(g.get())) {
    H5Handle lg(H5Gopen2(g.get(), layer.c_str(), H5P_DEFAULT), H5Gclose,
                fmt::format("open {}/{}", name, layer));
    for (const auto& ds_name : child_names(lg.get())) {
      const std::string where = fmt::format("{}/{}/{}", name, layer, ds_name);
      H5Handle ds(H5Dopen2(lg.get(), ds_name.c_str(), H5P_DEFAULT), H5Dclose, "open " + where);
      dataset_dims(ds.get());
      if (data_end) check_chunks_end_by(ds.get(), *data_end, where);
    }
  }
  return true;
}

}  // namespace

std::string capture_file_damage(const fs::path& path, std::optional<uint64_t> data_end) {
  quiet_hdf5_errors();
  try {
    H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "open");
    read_info(file.get(), path.string());
    H5Handle sequences(H5Gopen2(file.get(), "sequences", H5P_DEFAULT), H5Gclose, "open /sequences");
    for (const auto& name : child_names(sequences.get()))
      check_sequence(sequences.get(), name, data_end);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

std::optional<int64_t> salvage_capture_file(const fs::path& path,
                                            std::optional<uint64_t> data_end) {
  quiet_hdf5_errors();
  const fs::path tmp = path.string() + ".salvage";
  int64_t kept = 0;
  try {
    H5Handle src(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "open");
    const CaptureFileInfo info = read_info(src.get(), path.string());
    H5Handle src_seqs(H5Gopen2(src.get(), "sequences", H5P_DEFAULT), H5Gclose, "open /sequences");
    const auto names = child_names(src_seqs.get());
    H5Handle dst(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose,
                 "create " + tmp.string());
    write_info(dst.get(), info);
    H5Handle dst_seqs(H5Gcreate2(dst.get(), "sequences", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      H5Gclose, "create /sequences");
    for (const auto& name : names) {
      try {
        if (!check_sequence(src_seqs.get(), name, data_end)) continue;
      } catch (const DataError&) {
        continue;   // unreadable: captured again
      }
      h5_check(H5Ocopy(src_seqs.get(), name.c_str(), dst_seqs.get(), name.c_str(), H5P_DEFAULT,
                       H5P_DEFAULT), "HDF5: copy sequence '" + name + "'");
      ++kept;
    }
    h5_check(dst_seqs.close(), "HDF5: close /sequences");
    h5_check(dst.close(), "HDF5: write " + tmp.string());
  } catch (const DataError&) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return std::nullopt;
  }
  fs::rename(tmp, path);
  return kept;
}

std::optional<uint64_t> extend_truncated_capture_file(const fs::path& path,
                                                      const std::string& damage) {
  // HDF5's own words (H5Fsuper.c); another wording just means no repair.
  static const std::regex truncated(R"(truncated file: eof = (\d+),.*stored_eof = (\d+))");
  std::smatch m;
  if (!std::regex_search(damage, m, truncated)) return std::nullopt;
  const uint64_t eof = std::stoull(m[1].str()), stored = std::stoull(m[2].str());
  std::error_code ec;
  if (stored <= eof || fs::file_size(path, ec) != eof || ec) return std::nullopt;
  fs::resize_file(path, stored, ec);
  if (ec) return std::nullopt;
  return eof;
}

}  // namespace seer::data
