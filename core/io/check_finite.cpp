#include "core/io/check_finite.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <stdexcept>

namespace seer::io {

void check_finite(const at::Tensor& t, const std::string& what) {
  if (!t.defined()) return;
  const at::Tensor bad = at::logical_not(at::isfinite(t)).flatten();
  const int64_t count = bad.sum().item<int64_t>();
  if (count == 0) return;
  throw std::runtime_error(fmt::format("{} holds {} non-finite values (NaN or Inf) of {}, the first "
                                       "at flat index {}", what, count, t.numel(),
                                       bad.nonzero()[0].item<int64_t>()));
}

}  // namespace seer::io
