#include "experiments/gate_folders.h"

#include "core/gate/gate_file.h"
#include "core/io/atomic_file.h"
#include "experiments/stages/gate_stages.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <stdexcept>

namespace fs = std::filesystem;

namespace seer::experiments {

GateLayout gate_layout(const fs::path& dir) {
  if (fs::exists(dir / "gates.json")) return GateLayout::kSeer;
  const fs::path cfg = dir / "config.json";
  if (fs::exists(cfg)) {
    try {
      if (nlohmann::json::parse(io::read_file(cfg)).contains("seerattn_gate_type"))
        return GateLayout::kReference;
    } catch (const nlohmann::json::exception&) {
      // not a reference gate config: falls through to "none", whose error names the folder
    }
  }
  return GateLayout::kNone;
}

std::string gate_layout_name(GateLayout layout) {
  switch (layout) {
    case GateLayout::kSeer: return "seer";
    case GateLayout::kReference: return "reference";
    case GateLayout::kNone: return "none";
  }
  return "?";
}

core::GateSet load_gates_for_model(const fs::path& dir, const core::ModelSpec& spec) {
  const auto layout = gate_layout(dir);
  if (layout == GateLayout::kNone)
    throw std::runtime_error(fmt::format(
        "{}: no gates: expected gates.json (Seer's layout) or config.json with seerattn_gate_type "
        "(the reference implementation's)", dir.string()));
  const ModelGateGeometry model = model_gate_geometry(spec);
  core::GateSet gates = layout == GateLayout::kSeer
                            ? core::load_gates(dir)
                            : core::import_reference_gates(dir, model.rope, model.shape);
  auto mismatch = [&](const char* what, int64_t have, int64_t want) {
    if (have != want)
      throw std::runtime_error(fmt::format("{}: gates for {} {} but the model {} has {}: gates of "
                                           "another model", dir.string(), have, what, spec.path,
                                           want));
  };
  mismatch("layers", gates.num_layers(), model.num_layers);
  mismatch("query heads", gates.shape.num_q_heads, model.shape.num_q_heads);
  mismatch("key/value heads", gates.shape.num_kv_heads, model.shape.num_kv_heads);
  mismatch("head dim", gates.shape.head_dim, model.shape.head_dim);
  return gates;
}

}  // namespace seer::experiments
