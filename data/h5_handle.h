// Owner of one HDF5 C-API handle (file, group, dataset, dataspace, datatype, attribute, property
// list): closes it with the matching H5?close when it goes out of scope. Throws DataError naming
// what was being opened, and why (data/h5_error.h), when the id is invalid. A writer calls close()
// itself where closing writes (a dataset's cached chunks), to see that write fail.
#pragma once

#include "data/data_error.h"
#include "data/h5_error.h"

#include <hdf5.h>

#include <string>
#include <utility>

namespace seer::data {

class H5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Handle() = default;
  H5Handle(hid_t id, Closer close, const std::string& what) : id_(id), close_(close) {
    if (id_ < 0) throw hdf5_failure("HDF5: " + what);
  }
  ~H5Handle() { reset(); }
  H5Handle(H5Handle&& o) noexcept : id_(std::exchange(o.id_, -1)), close_(o.close_) {}
  H5Handle& operator=(H5Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, -1);
      close_ = o.close_;
    }
    return *this;
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() { (void)close(); }
  // Closes now; the status of the close (negative when a write it made failed).
  herr_t close() {
    const herr_t status = id_ >= 0 && close_ ? close_(id_) : 0;
    id_ = -1;
    return status;
  }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

}  // namespace seer::data
