// The decoder's projections: exactly at::linear's result, with fewer dispatcher calls. For a
// contiguous x [..., in] at::linear flattens x and runs one mm (addmm with a bias) through about
// ten nested dispatcher calls (matmul's folding, reshapes, transposes); this makes that one call
// on the 2-D view directly. A decoding step of a small model is bound by such per-call host time:
// SmolLM2-135M's layers made ~193 dispatcher calls per step, ~172 with this (bench/decode_bench).
#pragma once

#include <ATen/core/Tensor.h>

namespace seer::core {

// x [..., in], w [out, in], b [out] or undefined -> [..., out], equal to at::linear(x, w, b).
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b);

}  // namespace seer::core
