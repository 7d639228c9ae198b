// All layers' AttnGates of one model plus what identifies them (config, shapes, RoPE settings,
// base model), the unit that distill trains, gate files store and the gated hook runs.
#pragma once

#include "core/gate/attn_gate.h"

#include <cstdint>
#include <string>
#include <vector>

namespace seer::core {

struct GateSet {
  GateConfig config;
  GateShape shape;
  GateRope rope;
  std::string base_model;          // checkpoint identity (HF repo id or path)
  std::vector<AttnGate> layers;    // one per model layer

  // Seeded initial weights: one CPU generator seeded with config.seed draws layer 0's wq, wk,
  // then layer 1's, ..., so the same config gives the same gates on every machine.
  static GateSet init(const GateConfig& config, const GateShape& shape,
                      const GateRope& rope, int64_t num_layers,
                      const std::string& base_model);

  int64_t num_layers() const { return static_cast<int64_t>(layers.size()); }
  std::vector<at::Tensor> parameters() const;  // layer order, wq before wk
  void set_requires_grad(bool on);
  void to(const at::Device& device, at::ScalarType dtype);
};

}  // namespace seer::core
