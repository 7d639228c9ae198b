#include "core/gate/gate_set.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

namespace seer::core {

GateSet GateSet::init(const GateConfig& config, const GateShape& shape,
                      const GateRope& rope, int64_t num_layers,
                      const std::string& base_model) {
  GateSet set;
  set.config = config;
  set.shape = shape;
  set.rope = rope;
  set.base_model = base_model;
  auto generator = at::detail::createCPUGenerator(static_cast<uint64_t>(config.seed));
  for (int64_t l = 0; l < num_layers; ++l)
    set.layers.push_back(AttnGate::init(config, shape, rope, generator));
  return set;
}

std::vector<at::Tensor> GateSet::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& gate : layers)
    for (auto& w : gate.parameters()) out.push_back(w);
  return out;
}

void GateSet::set_requires_grad(bool on) {
  for (auto& gate : layers) gate.set_requires_grad(on);
}

void GateSet::to(const at::Device& device, at::ScalarType dtype) {
  for (auto& gate : layers) gate.to(device, dtype);
}

}  // namespace seer::core
