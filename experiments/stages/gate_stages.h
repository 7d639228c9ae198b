// Factories of the gate stages (issue 6): capture (ground truth -> HDF5) and distill (train the
// AttnGates offline from a capture, or online by running the model). Register them in
// experiments/stage_list.cpp.
#pragma once

#include "core/gate/attn_gate.h"
#include "core/model/model_spec.h"
#include "experiments/stage.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace seer::experiments {

std::unique_ptr<Stage> make_capture_stage();
std::unique_ptr<Stage> make_distill_stage();

// The token stream gates train on (capture and online distillation read nothing else): the
// `train` split of `data` (split_tokens), its first `max_tokens` tokens (0 = all).
std::vector<int64_t> gate_training_tokens(const config::ConfigTree& config,
                                          const core::ModelSpec& spec, int64_t max_tokens);

// The first `count` windows of `length` tokens of gate_training_tokens (fewer when it runs out).
std::vector<std::vector<int64_t>> gate_token_windows(const config::ConfigTree& config,
                                                     const core::ModelSpec& spec, int64_t length,
                                                     int64_t count);

// Head counts, head dim and rotary settings of the `model` without loading its weights.
struct ModelGateGeometry {
  int64_t num_layers = 0;
  core::GateShape shape;
  core::GateRope rope;
};
ModelGateGeometry model_gate_geometry(const core::ModelSpec& spec);

}  // namespace seer::experiments
