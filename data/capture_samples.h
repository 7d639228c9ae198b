// Offline distillation data: every complete sequence of a capture file as a core::DistillSample
// (pooled Q/K and G per captured layer), loaded once into memory; a few MB per sequence at 8k.
#pragma once

#include "core/gate/distill_trainer.h"
#include "data/capture_file.h"

#include <cstdint>
#include <vector>

namespace seer::data {

// max_sequences 0 = all. Throws DataError when a layer lacks pooled Q/K (captured with
// pooled: false).
std::vector<core::DistillSample> load_distill_samples(const CaptureReader& reader,
                                                      int64_t max_sequences = 0);

}  // namespace seer::data
