// The HDF5 pieces that the capture file's writer and reader (data/capture_file.h) and its repair
// (data/capture_repair.h) share: attributes, group listings, dataset shapes and the file's info
// block (the root attributes). Every failure throws DataError with HDF5's reason.
#pragma once

#include "data/capture_file.h"
#include "data/h5_handle.h"

#include <cstdint>
#include <string>
#include <vector>

namespace seer::data::capture_h5 {

// Scalar, string and 1-d int64 attributes, replaced when they exist.
void write_attr_i64(hid_t obj, const char* name, int64_t v);
void write_attr_str(hid_t obj, const char* name, const std::string& v);
void write_attr_i64s(hid_t obj, const char* name, const std::vector<int64_t>& v);

bool has_attr(hid_t obj, const char* name);
// `where` names the object in the error when the attribute is missing.
int64_t read_attr_i64(hid_t obj, const char* name, const std::string& where);
std::string read_attr_str(hid_t obj, const char* name, const std::string& where);
std::vector<int64_t> read_attr_i64s(hid_t obj, const char* name, const std::string& where);

// Names of a group's links, in name order.
std::vector<std::string> child_names(hid_t group);
std::vector<int64_t> dataset_dims(hid_t ds);

// The root attributes of a capture file (format, version, model and shapes, dtypes, selection).
void write_info(hid_t root, const CaptureFileInfo& info);
CaptureFileInfo read_info(hid_t root, const std::string& where);

}  // namespace seer::data::capture_h5
