#include "core/io/safetensors.h"

#include "core/io/json_int.h"

#include <ATen/ATen.h>
#include <c10/util/StringUtil.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace seer::io {

namespace fs = std::filesystem;

using nlohmann::json;

at::ScalarType safetensors_dtype(const std::string& d, const std::string& file, const std::string& tensor) {
  if (d == "F32") return at::kFloat;
  if (d == "F16") return at::kHalf;
  if (d == "BF16") return at::kBFloat16;
  if (d == "F64") return at::kDouble;
  if (d == "I64") return at::kLong;
  if (d == "I32") return at::kInt;
  if (d == "I16") return at::kShort;
  if (d == "I8") return at::kChar;
  if (d == "U8") return at::kByte;
  if (d == "BOOL") return at::kBool;
  throw FormatError(fmt::format("{}: tensor '{}' has unsupported dtype '{}'", file, tensor, d));
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  if (file_->size() < 8) {
    throw FormatError(fmt::format("{}: truncated safetensors file ({} bytes, the header length alone "
                                  "needs 8)", path, file_->size()));
  }
  uint64_t header_len;
  std::memcpy(&header_len, file_->data(), 8);
  if (header_len > file_->size() - 8) {
    throw FormatError(fmt::format("{}: truncated or corrupt safetensors file: header length {} but "
                                  "only {} bytes follow", path, header_len, file_->size() - 8));
  }
  data_offset_ = 8 + header_len;
  const uint64_t data_size = file_->size() - data_offset_;
  json header;
  try {
    header = json::parse(reinterpret_cast<const char*>(file_->data() + 8),
                         reinterpret_cast<const char*>(file_->data() + 8 + header_len));
  } catch (const json::exception& e) {
    throw FormatError(fmt::format("{}: corrupt safetensors header (invalid JSON): {}", path, e.what()));
  }
  if (!header.is_object()) throw FormatError(fmt::format("{}: corrupt safetensors header (not an object)", path));
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (it->is_object()) {
        for (auto m = it->begin(); m != it->end(); ++m) {
          if (m->is_string()) metadata_[m.key()] = m->get<std::string>();
        }
      }
      continue;
    }
    SafetensorInfo info;
    try {
      info.dtype = it->at("dtype").get<std::string>();
      // Integers checked one by one: nlohmann converts floats such as 1e26 without a range check.
      const auto& shape = it->at("shape");
      if (!shape.is_array()) throw FormatError("shape must be a list");
      for (const auto& d : shape) info.shape.push_back(json_int(d, 0, kMaxTensorElements, "shape entry"));
      const auto& offs = it->at("data_offsets");
      if (!offs.is_array() || offs.size() != 2) throw FormatError("data_offsets must have 2 entries");
      info.begin = static_cast<uint64_t>(json_int(offs[0], 0, INT64_MAX, "data_offsets[0]"));
      info.end = static_cast<uint64_t>(json_int(offs[1], 0, INT64_MAX, "data_offsets[1]"));
    } catch (const std::exception& e) {
      throw FormatError(fmt::format("{}: corrupt safetensors header entry for tensor '{}': {}", path,
                                    it.key(), e.what()));
    }
    const at::ScalarType st = safetensors_dtype(info.dtype, path, it.key());
    // Bounded by a division check, so neither the element nor the byte count can wrap around to a
    // small number that would pass the span check below.
    uint64_t numel = 1;
    for (int64_t s : info.shape) {
      const uint64_t d = static_cast<uint64_t>(s);
      if (d != 0 && numel > static_cast<uint64_t>(kMaxTensorElements) / d) {
        throw FormatError(fmt::format("{}: tensor '{}' has shape {}: more than 2^48 elements", path,
                                      it.key(), c10::str(at::IntArrayRef(info.shape))));
      }
      numel *= d;
    }
    const uint64_t expect = numel * at::elementSize(st);
    if (info.end < info.begin || info.end - info.begin != expect) {
      throw FormatError(fmt::format("{}: tensor '{}' spans bytes [{}, {}) but {} {} needs {} bytes", path,
                                    it.key(), info.begin, info.end, c10::str(at::IntArrayRef(info.shape)),
                                    info.dtype, expect));
    }
    if (info.end > data_size) {
      throw FormatError(fmt::format("{}: truncated safetensors file: tensor '{}' ends at data byte {} but "
                                    "the data section has {} bytes", path, it.key(), info.end, data_size));
    }
    infos_[it.key()] = std::move(info);
  }
}

const SafetensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = infos_.find(name);
  if (it == infos_.end()) throw FormatError(fmt::format("{}: tensor '{}' is missing", path(), name));
  return it->second;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& kv : infos_) out.push_back(kv.first);
  return out;
}

at::Tensor SafetensorsFile::load(const std::string& name) const {
  const SafetensorInfo& i = info(name);
  const at::ScalarType st = safetensors_dtype(i.dtype, path(), name);
  // from_blob views the mapping; clone() copies so the tensor outlives the map.
  void* p = const_cast<uint8_t*>(file_->data() + data_offset_ + i.begin);
  return at::from_blob(p, i.shape, at::TensorOptions().dtype(st)).clone();
}

at::Tensor SafetensorsFile::load(const std::string& name, at::ScalarType dtype) const {
  const SafetensorInfo& i = info(name);
  const at::ScalarType st = safetensors_dtype(i.dtype, path(), name);
  if (at::isFloatingType(st) != at::isFloatingType(dtype)) {
    throw FormatError(fmt::format("{}: tensor '{}' has dtype {} which cannot be converted to {}", path(),
                                  name, i.dtype, c10::toString(dtype)));
  }
  void* p = const_cast<uint8_t*>(file_->data() + data_offset_ + i.begin);
  at::Tensor view = at::from_blob(p, i.shape, at::TensorOptions().dtype(st));
  return st == dtype ? view.clone() : view.to(dtype);
}

SafetensorsCheckpoint::SafetensorsCheckpoint(const std::string& path) {
  const fs::path p(path);
  if (fs::is_regular_file(p) && p.extension() == ".safetensors") {
    root_ = p.parent_path().string();
    const std::string file = p.filename().string();
    shards_[file] = std::make_unique<SafetensorsFile>(p.string());
    for (const auto& n : shards_[file]->names()) weight_map_[n] = file;
    return;
  }
  root_ = p.string();
  const fs::path single = p / "model.safetensors";
  const fs::path index = p / "model.safetensors.index.json";
  if (fs::exists(single)) {
    shards_["model.safetensors"] = std::make_unique<SafetensorsFile>(single.string());
    for (const auto& n : shards_["model.safetensors"]->names()) weight_map_[n] = "model.safetensors";
    return;
  }
  if (!fs::exists(index)) {
    throw FormatError(fmt::format("{}: no model.safetensors or model.safetensors.index.json in this "
                                  "checkpoint folder", path));
  }
  index_path_ = index.string();
  std::ifstream in(index);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    json j = json::parse(ss.str());
    for (auto it = j.at("weight_map").begin(); it != j.at("weight_map").end(); ++it) {
      weight_map_[it.key()] = it->get<std::string>();
    }
  } catch (const json::exception& e) {
    throw FormatError(fmt::format("{}: invalid index JSON (need a 'weight_map' object): {}", index_path_, e.what()));
  }
}

std::string SafetensorsCheckpoint::describe() const {
  if (!index_path_.empty()) return index_path_;
  if (shards_.size() == 1) return shards_.begin()->second->path();
  return root_;
}

bool SafetensorsCheckpoint::has(const std::string& name) const { return weight_map_.count(name) != 0; }

const SafetensorsFile& SafetensorsCheckpoint::file_for(const std::string& name) const {
  auto it = weight_map_.find(name);
  if (it == weight_map_.end()) {
    throw FormatError(fmt::format("{}: tensor '{}' is missing from the checkpoint", describe(), name));
  }
  auto& shard = shards_[it->second];
  if (!shard) shard = std::make_unique<SafetensorsFile>((fs::path(root_) / it->second).string());
  return *shard;
}

at::Tensor SafetensorsCheckpoint::load(const std::string& name, const std::vector<int64_t>& shape,
                                       at::ScalarType dtype) const {
  const SafetensorsFile& f = file_for(name);
  const SafetensorInfo& i = f.info(name);
  if (i.shape != shape) {
    throw FormatError(fmt::format("{}: tensor '{}' has shape {} but the model config needs {}", f.path(),
                                  name, c10::str(at::IntArrayRef(i.shape)), c10::str(at::IntArrayRef(shape))));
  }
  return f.load(name, dtype);
}

}  // namespace seer::io
