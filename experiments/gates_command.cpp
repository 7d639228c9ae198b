#include "experiments/gates_command.h"

#include "core/config/paths.h"
#include "core/gate/gate_file.h"
#include "core/io/atomic_file.h"
#include "core/io/safetensors.h"
#include "experiments/gate_folders.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <stdexcept>

namespace fs = std::filesystem;

namespace seer::experiments {

const char* const kGatesHelp = R"(seer gates inspect DIR
seer gates export DIR OUT
seer gates import DIR OUT --model MODEL

Gate folders in Seer's layout (gates.json + gates.safetensors, what `distill` writes) and in the
reference implementation's (config.json with seerattn_gate_type/block_size/hidden_size +
model.safetensors with model.layers.{i}.self_attn.attn_gate.mask_linear_{q,k}.weight).
  inspect  what a folder holds: its layout, gate type, block and hidden size, block RoPE, layers,
           heads, and per layer the weights' shapes and RMS
  export   Seer's layout -> the reference's (OUT gets model.safetensors and config.json)
  import   the reference's -> Seer's; MODEL (a .gguf file or a Hugging Face folder) gives the head
           counts and the RoPE the reference files do not carry, and the weights are checked
           against it
sweep.gates=, eval_ruler.gates=, calibrate.gates= and heatmaps.gates= read either layout.
)";

namespace {

core::ModelSpec model_at(const std::string& path) {
  core::ModelSpec spec;
  spec.path = config::resolve_project_path(path).string();
  spec.format = fs::is_directory(spec.path) ? "hf" : "gguf";
  spec.name = fs::path(spec.path).filename().string();
  if (!fs::exists(spec.path))
    throw std::invalid_argument(fmt::format("--model {}: no such file or folder", spec.path));
  return spec;
}

double rms(const at::Tensor& t) { return t.to(at::kDouble).pow(2).mean().sqrt().item<double>(); }

void print_gate_set(const core::GateSet& g) {
  const auto& c = g.config;
  fmt::print("type {}  block {}  hidden {}  query sub-blocks {}  distance buckets {}  block RoPE {} "
             "(theta {})\n", c.type_name(), c.block_size, c.hidden_size, c.q_subblocks,
             c.distance_buckets, c.rope_dim, g.rope.rope.theta);
  fmt::print("{} layers, {} query heads, {} key/value heads, head dim {}; base model '{}'\n",
             g.num_layers(), g.shape.num_q_heads, g.shape.num_kv_heads, g.shape.head_dim,
             g.base_model);
  for (int64_t l = 0; l < g.num_layers(); ++l) {
    const auto& gate = g.layers[l];
    std::string q = gate.identity_q() ? std::string("identity")
                                      : fmt::format("{} rms {:.4g}", gate.wq().sizes(), rms(gate.wq()));
    const std::string bias =
        gate.distance_bias().defined()
            ? fmt::format("  distance bias min {:.3g} max {:.3g}",
                          gate.distance_bias().min().item<double>(),
                          gate.distance_bias().max().item<double>())
            : std::string();
    fmt::print("  layer {:>3}: wq {}  wk {} rms {:.4g}{}\n", l, q, gate.wk().sizes(), rms(gate.wk()),
               bias);
  }
}

int inspect(const fs::path& dir) {
  const auto layout = gate_layout(dir);
  fmt::print("{}: {} layout\n", dir.string(), gate_layout_name(layout));
  if (layout == GateLayout::kSeer) {
    print_gate_set(core::load_gates(dir));
    return 0;
  }
  if (layout == GateLayout::kNone)
    throw std::runtime_error(fmt::format("{}: neither gates.json nor a config.json with "
                                         "seerattn_gate_type", dir.string()));
  // Without the model only what the files say: the config's gate keys and the tensors.
  const auto cfg = nlohmann::json::parse(io::read_file(dir / "config.json"));
  for (const auto& [k, v] : cfg.items())
    if (k.rfind("seerattn_", 0) == 0 || k.rfind("seer_", 0) == 0 || k == "base_model" ||
        k == "model_type")
      fmt::print("{}: {}\n", k, v.dump());
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".safetensors") continue;
    const io::SafetensorsFile file(e.path().string());
    fmt::print("{}: {} tensors\n", e.path().filename().string(), file.names().size());
    for (const auto& name : file.names())
      fmt::print("  {} {} {}\n", name, file.info(name).dtype, file.info(name).shape);
  }
  fmt::print("(`seer gates import {} OUT --model MODEL` checks them against a model)\n",
             dir.string());
  return 0;
}

}  // namespace

int run_gates_command(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    fmt::print("{}", kGatesHelp);
    return args.empty() ? 2 : 0;
  }
  const std::string& verb = args[0];
  auto need = [&](size_t n) {
    if (args.size() != n)
      throw std::invalid_argument(fmt::format("seer gates {}: expected {} arguments, got {} "
                                              "(seer gates --help)", verb, n - 1, args.size() - 1));
  };
  if (verb == "inspect") {
    need(2);
    return inspect(config::resolve_project_path(args[1]));
  }
  if (verb == "export") {
    need(3);
    const auto gates = core::load_gates(config::resolve_project_path(args[1]));
    const auto out = config::resolve_project_path(args[2]);
    core::export_reference_gates(gates, out);
    fmt::print("{} layers ({}) -> {} (reference layout)\n", gates.num_layers(),
               gates.config.type_name(), out.string());
    return 0;
  }
  if (verb == "import") {
    need(5);
    if (args[3] != "--model")
      throw std::invalid_argument("seer gates import DIR OUT --model MODEL");
    const auto gates = load_gates_for_model(config::resolve_project_path(args[1]), model_at(args[4]));
    const auto out = config::resolve_project_path(args[2]);
    core::save_gates(gates, out);
    fmt::print("{} layers ({}, block RoPE {}) -> {} (Seer layout)\n", gates.num_layers(),
               gates.config.type_name(), gates.config.rope_dim, out.string());
    return 0;
  }
  throw std::invalid_argument(fmt::format("seer gates {}: expected inspect | export | import",
                                          verb));
}

}  // namespace seer::experiments
