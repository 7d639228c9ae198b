#include "core/model/linear.h"

#include <ATen/ATen.h>

namespace seer::core {

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  // at::linear's own paths elsewhere (non-contiguous, 1-D) keep its exact behaviour.
  if (x.dim() < 2 || !x.is_contiguous()) return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = w.size(0);
  const at::Tensor x2 = x.view({-1, x.size(-1)});
  const at::Tensor y = b.defined() ? at::addmm(b, x2, w.t()) : at::mm(x2, w.t());
  return y.view(sizes);
}

}  // namespace seer::core
