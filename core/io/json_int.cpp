#include "core/io/json_int.h"

#include "core/io/mapped_file.h"

#include <fmt/format.h>

namespace seer::io {

int64_t json_int(const nlohmann::json& value, int64_t lo, int64_t hi, const std::string& what) {
  bool ok = false;
  int64_t v = 0;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    ok = u <= static_cast<uint64_t>(INT64_MAX);
    v = static_cast<int64_t>(u);
  } else if (value.is_number_integer()) {
    v = value.get<int64_t>();
    ok = true;
  }
  if (!ok || v < lo || v > hi) {
    throw FormatError(fmt::format("{} = {}: expected an integer in [{}, {}]", what, value.dump(),
                                  lo, hi));
  }
  return v;
}

}  // namespace seer::io
