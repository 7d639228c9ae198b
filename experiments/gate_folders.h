// Gate folders in either layout (core/gate/gate_file.h): ours (gates.json + gates.safetensors) or
// the reference implementation's (config.json with seerattn_gate_* + model.safetensors). The
// reference files do not carry the base model's head counts and RoPE, so both loaders here take
// the model the gates are for and check the gates against it: a folder of another model (other
// layer or head counts, head dim) is an error naming the folder and both values.
#pragma once

#include "core/gate/gate_set.h"
#include "core/model/model_spec.h"

#include <filesystem>
#include <string>

namespace seer::experiments {

enum class GateLayout { kSeer, kReference, kNone };
GateLayout gate_layout(const std::filesystem::path& dir);
std::string gate_layout_name(GateLayout layout);   // "seer" | "reference" | "none"

// The gates of `dir` in either layout, checked against `spec`'s model (loaded on the CPU, float32).
core::GateSet load_gates_for_model(const std::filesystem::path& dir, const core::ModelSpec& spec);

}  // namespace seer::experiments
