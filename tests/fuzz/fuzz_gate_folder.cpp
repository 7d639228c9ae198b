// Fuzz target: a gate folder in both layouts. The input holds a JSON config and a safetensors
// file (split at a separator line); it is read as Seer's layout (gates.json + gates.safetensors,
// core::load_gates) and as the reference's (config.json + model.safetensors,
// core::import_reference_gates for a small Llama-like shape). Bad folders must throw.
#include "core/gate/gate_file.h"
#include "fuzz_util.h"

#include <exception>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto dir = seer::fuzz::scratch_dir("gate_folder");
  const auto parts = seer::fuzz::split_input(data, size, "\n@@weights@@\n", 2);
  seer::fuzz::write_bytes(dir / "gates.json", parts[0]);
  seer::fuzz::write_bytes(dir / "gates.safetensors", parts[1]);
  seer::fuzz::write_bytes(dir / "config.json", parts[0]);
  seer::fuzz::write_bytes(dir / "model.safetensors", parts[1]);
  try {
    auto gates = seer::core::load_gates(dir);
    (void)gates.num_layers();
  } catch (const std::exception&) {
  }
  try {
    seer::core::GateRope rope;
    rope.rope.theta = 10000.0;
    auto gates = seer::core::import_reference_gates(dir, rope, {4, 2, 8});
    (void)gates.num_layers();
  } catch (const std::exception&) {
  }
  return 0;
}
