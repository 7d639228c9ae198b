// The check every loader of outside weights runs on what it read: a tensor holding NaN or Inf is
// refused with one message naming it, rather than giving NaN results downstream or, where a
// softmax renormalises around it, numbers that look plausible.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

namespace seer::io {

// Throws std::runtime_error "<what> holds N non-finite values (NaN or Inf) of M, the first at flat
// index i" when `t` (defined) has any. `what` names the file and the tensor.
void check_finite(const at::Tensor& t, const std::string& what);

}  // namespace seer::io
