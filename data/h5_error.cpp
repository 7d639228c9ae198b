#include "data/h5_error.h"

#include <regex>

namespace seer::data {
namespace {

// HDF5 closes whatever is still open from an atexit handler, and after a close that failed (a
// write refused on a full disk) that handler crashes in HDF5 1.10 (H5F__close_cb), turning a
// clean error exit into a segfault. Every handle here is closed by its owner before exit, so the
// handler has nothing to do; H5dont_atexit only works before the library's first call, hence a
// static initialiser.
[[maybe_unused]] const bool kNoAtexitHandler = [] {
  H5dont_atexit();
  return true;
}();

}  // namespace

void quiet_hdf5_errors() {
  thread_local bool quiet = false;
  if (quiet) return;
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  quiet = true;
}

std::string hdf5_error_reason() {
  std::string innermost;
  // Walking upward visits the most specific error first.
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD,
           [](unsigned n, const H5E_error2_t* e, void* out) -> herr_t {
             if (n == 0 && e->desc != nullptr) *static_cast<std::string*>(out) = e->desc;
             return 0;
           },
           &innermost);
  // A refused read or write carries the system's message among file name, offsets and sizes.
  static const std::regex system_message("error message = '([^']*)'");
  std::smatch m;
  if (std::regex_search(innermost, m, system_message)) return m[1].str();
  return innermost;
}

DataError hdf5_failure(const std::string& what) {
  const std::string reason = hdf5_error_reason();
  return DataError(reason.empty() ? what + " failed" : what + " failed: " + reason);
}

}  // namespace seer::data
