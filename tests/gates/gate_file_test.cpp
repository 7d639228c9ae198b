// Gate files: Seer's own folder format round trip, and import/export of the reference layout
// (tensor names, shapes, config fields), including the identity-Q corner; the exported file is
// cross-read with the venv's `safetensors` package.
#include "catch.h"

#include "core/gate/capture_hook.h"
#include "core/gate/gate_file.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <limits>
#include <fstream>
#include <sstream>

using namespace seer;
namespace fs = std::filesystem;

namespace {

core::GateRope llama3_rope() {
  core::GateRope r;
  r.rope.kind = core::RopeKind::kLlama3;
  r.rope.theta = 500000.0;
  r.rope.factor = 8.0;
  r.rope.original_max_position_embeddings = 8192;
  r.max_position_embeddings = 131072;
  return r;
}

void check_same_gates(const core::GateSet& a, const core::GateSet& b) {
  REQUIRE(a.num_layers() == b.num_layers());
  CHECK(a.config.type_name() == b.config.type_name());
  CHECK(a.config.block_size == b.config.block_size);
  CHECK(a.config.hidden_size == b.config.hidden_size);
  CHECK(a.config.rope_dim == b.config.rope_dim);
  CHECK(a.base_model == b.base_model);
  auto pa = a.parameters(), pb = b.parameters();
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) CHECK(at::equal(pa[i], pb[i]));
}

}  // namespace

TEST_CASE("gate folder round trip keeps weights, config and RoPE", "[gates][gate_file]") {
  core::GateConfig cfg;
  cfg.block_size = 32;
  cfg.hidden_size = 16;
  cfg.seed = 9;
  cfg.rope_dim = GENERATE(std::string("hidden_size"), std::string("head_dim"));
  CAPTURE(cfg.rope_dim);
  auto gates = core::GateSet::init(cfg, {6, 2, 8}, llama3_rope(), 3, "tiny/llama");
  const auto dir = gates_test::fresh_dir("gate_folder");
  core::save_gates(gates, dir);
  CHECK(fs::exists(dir / "gates.json"));
  auto back = core::load_gates(dir);
  check_same_gates(gates, back);
  CHECK(back.shape.num_q_heads == 6);
  CHECK(back.shape.num_kv_heads == 2);
  CHECK(back.rope.rope.kind == core::RopeKind::kLlama3);
  CHECK(back.rope.rope.factor == 8.0);
  CHECK(back.rope.max_position_embeddings == 131072);
  CHECK(back.config.seed == 9);
  // A corrupt config names the file.
  {
    std::ofstream(dir / "gates.json") << "{\"format\": \"other\"}";
  }
  CHECK(gates_test::contains(gates_test::error_message([&] { core::load_gates(dir); }), "gates.json"));
}

TEST_CASE("reference layout export/import round trip", "[gates][gate_file]") {
  core::GateConfig cfg;
  cfg.block_size = 64;
  cfg.hidden_size = 16;
  cfg.k_pools = {kernels::PoolKind::kMax, kernels::PoolKind::kMin};
  auto gates = core::GateSet::init(cfg, {4, 2, 8}, llama3_rope(), 2, "meta-llama/Llama-3.1-8B");
  const auto dir = gates_test::fresh_dir("gate_reference");
  core::export_reference_gates(gates, dir);
  std::ifstream cfg_file(dir / "config.json");
  auto cfg_json = nlohmann::json::parse(cfg_file);
  CHECK(cfg_json["seerattn_gate_type"] == "Qavg_Kmaxmin");
  CHECK(cfg_json["seerattn_gate_block_size"] == 64);
  CHECK(cfg_json["seerattn_gate_hidden_size"] == 16);
  CHECK(cfg_json["base_model"] == "meta-llama/Llama-3.1-8B");
  auto back = core::import_reference_gates(dir, llama3_rope(), {4, 2, 8});
  check_same_gates(gates, back);

  // The venv's safetensors package reads the same names, shapes and values.
  const std::string out = gates_test::run_python("tests/gates/read_safetensors.py",
                                     (dir / "model.safetensors").string());
  if (out.find("No module named") != std::string::npos || out.empty()) {
    SEER_SKIP("python safetensors unavailable: " + out);
  }
  std::istringstream lines(out);
  std::string name;
  int64_t h = 0, in = 0, d = 0;
  double sum = 0;
  int seen = 0;
  while (lines >> name >> h >> in >> d >> sum) {
    CAPTURE(name);
    const int64_t layer = name.find("layers.1.") != std::string::npos ? 1 : 0;
    const bool q = name.find("mask_linear_q") != std::string::npos;
    const auto& w = q ? back.layers[layer].wq() : back.layers[layer].wk();
    CHECK(name == core::reference_gate_tensor_name(layer, q));
    CHECK(w.sizes() == at::IntArrayRef({h, in, d}));
    CHECK(sum == Approx(w.to(at::kDouble).sum().item<double>()).margin(1e-6));
    ++seen;
  }
  CHECK(seen == 4);
}

TEST_CASE("reference identity-Q corner imports and exports", "[gates][gate_file]") {
  core::GateConfig cfg;
  cfg.block_size = 64;
  cfg.hidden_size = 8;  // == D
  cfg.k_pools = {kernels::PoolKind::kMax, kernels::PoolKind::kMin};
  auto gen = at::detail::createCPUGenerator(3);
  core::GateSet gates;
  gates.config = cfg;
  gates.shape = {4, 2, 8};
  gates.rope = llama3_rope();
  gates.base_model = "x";
  for (int l = 0; l < 2; ++l)
    gates.layers.emplace_back(cfg, gates.shape, gates.rope, at::Tensor(),
                              at::randn({4, 16, 8}, gen, at::kFloat));
  const auto dir = gates_test::fresh_dir("gate_identity");
  core::export_reference_gates(gates, dir);
  auto back = core::import_reference_gates(dir, llama3_rope(), {4, 2, 8});
  REQUIRE(back.layers[0].identity_q());
  check_same_gates(gates, back);
  // Wrong model shape: the error names the file and the layer.
  const auto msg = gates_test::error_message(
      [&] { core::import_reference_gates(dir, llama3_rope(), {8, 2, 8}); });
  CHECK(gates_test::contains(msg, "model.safetensors"));
  CHECK(gates_test::contains(msg, "layer 0"));
}

TEST_CASE("reference import: block RoPE from the model family, channels in the type's order",
          "[gates][gate_file]") {
  core::GateConfig cfg;
  cfg.block_size = 64;
  cfg.hidden_size = 16;  // d = 16 > D = 8: the two block RoPEs differ
  cfg.rope_dim = "head_dim";
  auto gates = core::GateSet::init(cfg, {4, 2, 8}, llama3_rope(), 2, "x");
  const auto dir = gates_test::fresh_dir("gate_reference_rope");
  core::export_reference_gates(gates, dir);
  CHECK(core::import_reference_gates(dir, llama3_rope(), {4, 2, 8}).config.rope_dim == "head_dim");

  // A checkpoint of the reference itself: no seer_rope_dim; its config names the model family.
  auto with_config = [&](const char* model_type) {
    std::ifstream in(dir / "config.json");
    auto j = nlohmann::json::parse(in);
    j.erase("seer_rope_dim");
    if (model_type) j["model_type"] = model_type;
    std::ofstream(dir / "config.json") << j.dump();
    return core::import_reference_gates(dir, llama3_rope(), {4, 2, 8}).config.rope_dim;
  };
  CHECK(with_config("llama") == "head_dim");      // LlamaConfig has head_dim = D
  CHECK(with_config("qwen2") == "hidden_size");   // Qwen2Config has none: hidden_size / heads = d
  CHECK(with_config(nullptr) == "hidden_size");

  // Qavg_Kmaxminavg reads K as max | min | avg, the reference's concatenation order.
  core::GateConfig three = cfg;
  three.k_pools = {kernels::PoolKind::kMax, kernels::PoolKind::kMin, kernels::PoolKind::kAvg};
  auto g3 = core::GateSet::init(three, {4, 2, 8}, llama3_rope(), 1, "x");
  const auto dir3 = gates_test::fresh_dir("gate_reference_order");
  core::export_reference_gates(g3, dir3);
  auto back = core::import_reference_gates(dir3, llama3_rope(), {4, 2, 8});
  REQUIRE(back.config.type_name() == "Qavg_Kmaxminavg");
  auto gen = at::detail::createCPUGenerator(11);
  auto avg = at::randn({5, 2, 8}, gen), mx = at::randn({5, 2, 8}, gen), mn = at::randn({5, 2, 8}, gen);
  auto captured = at::cat({avg, mx, mn}, -1);  // capture layout
  CHECK(at::equal(core::pooled_subset(captured, 8, back.config.k_pools), at::cat({mx, mn, avg}, -1)));
}

TEST_CASE("gates with NaN or Inf weights are refused naming the file, layer and tensor",
          "[gates][gate_file]") {
  core::GateConfig cfg;
  cfg.block_size = 32;
  cfg.hidden_size = 16;
  auto gates = core::GateSet::init(cfg, {6, 2, 8}, llama3_rope(), 3, "tiny/llama");
  {
    at::NoGradGuard no_grad;
    gates.layers[2].wk()[1][3][4] = std::numeric_limits<float>::infinity();
  }
  const auto dir = gates_test::fresh_dir("gate_folder_inf");
  core::save_gates(gates, dir);
  const std::string message = gates_test::error_message([&] { core::load_gates(dir); });
  CAPTURE(message);
  CHECK(gates_test::contains(message, ".safetensors"));
  CHECK(gates_test::contains(message, "layer 2"));
  CHECK(gates_test::contains(message, "1 non-finite"));
  CHECK(gates_test::contains(message, core::reference_gate_tensor_name(2, false)));
}
