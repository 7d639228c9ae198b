// A decoder of a given shape with random weights, for timing only (bench_prefill): the paper's
// end-to-end prefill figures need Llama-3.1-8B's shape, and nothing may download its weights, but
// the time of a forward pass does not depend on what the weights are.
//   ModelConfig shape = ...;                     // e.g. from bench_prefill.shape
//   Decoder model = random_decoder(shape, at::kBFloat16, at::kCUDA, /*seed=*/0);
#pragma once

#include "core/model/decoder.h"

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>

namespace seer::core {

// Linear and embedding weights N(0, 0.02) (the usual initializer range; activations stay finite
// through deep stacks because every block is RMS-normalised), norm weights 1, no biases, untied
// LM head. Drawn on `device` from the global generator seeded with `seed`, so a 16 GB model is
// made on the GPU in well under a second instead of minutes on the host.
Decoder random_decoder(const ModelConfig& shape, at::ScalarType dtype, at::Device device,
                       int64_t seed);

}  // namespace seer::core
