// HDF5 failures as one line. By default HDF5 prints its whole error stack to stderr (dozens of
// lines per failed call, and a full disk fails many calls); the capture code silences that and
// throws one DataError naming the file, the operation and the innermost reason instead:
//   "runs/x/capture/capture_00001.h5: sequence 'seq_00005': write dataset 'G' failed: File too
//    large"
#pragma once

#include "data/data_error.h"

#include <hdf5.h>

#include <string>

namespace seer::data {

// Turns HDF5's automatic error printing off for the calling thread (the setting is per thread in
// thread-safe builds); cheap to call again.
void quiet_hdf5_errors();

// The most specific reason on the calling thread's HDF5 error stack: the operating system's
// message when a read or write was refused ("File too large", "No space left on device"), else
// HDF5's own description; "" when the stack is empty.
std::string hdf5_error_reason();

// `what` failed, with the reason when HDF5 gives one: "<what> failed: <reason>".
DataError hdf5_failure(const std::string& what);

// Throws hdf5_failure(what) when an HDF5 call returned a negative status.
inline void h5_check(herr_t status, const std::string& what) {
  if (status < 0) throw hdf5_failure(what);
}

}  // namespace seer::data
