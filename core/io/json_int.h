// Integers read from JSON that other people wrote (tokenizer.json, gate configs, sample files):
// nlohmann's get<int64_t>() on a float converts without a range check (undefined behaviour for
// 1e300, found by tests/fuzz), and a negative or huge id would index or allocate past reason.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace seer::io {

// `value` as an integer in [lo, hi]; FormatError "<what> = <value>: expected an integer in
// [lo, hi]" for anything else (floats, strings, out of range).
int64_t json_int(const nlohmann::json& value, int64_t lo, int64_t hi, const std::string& what);

}  // namespace seer::io
