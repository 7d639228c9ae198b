// Safetensors reader and the HF loader on broken inputs: truncated and corrupt files, missing
// tensors, wrong shapes and dtypes, a config.json that does not match the weights. Each error must
// name the file and the tensor (or key).
#include "catch.h"
#include "models_util.h"

#include "core/io/safetensors.h"
#include "core/model/model_loader.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using seer::test::Contains;

namespace {

// Writes a safetensors file by hand: {name: float32 tensor}, optional raw header override.
void write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                       const std::string& header_override = "", int64_t cut_bytes = 0) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.contiguous();
    const std::string dtype = c.scalar_type() == at::kFloat ? "F32" : c.scalar_type() == at::kLong ? "I64" : "BF16";
    header[name] = {{"dtype", dtype}, {"shape", c.sizes().vec()},
                    {"data_offsets", {data.size(), data.size() + c.nbytes()}}};
    data.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
  }
  const std::string h = header_override.empty() ? header.dump() : header_override;
  const uint64_t n = h.size();
  std::string bytes(reinterpret_cast<const char*>(&n), 8);
  bytes += h + data;
  bytes.resize(bytes.size() - cut_bytes);
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("safetensors round trip with dtype conversion", "[models][safetensors]") {
  const std::string dir = seer::test::scratch_dir("st_ok");
  at::Tensor a = at::randn({3, 5}), b = at::randint(0, 100, {7}, at::kLong);
  write_safetensors(dir + "/m.safetensors", {{"a", a}, {"b", b}});
  seer::io::SafetensorsFile f(dir + "/m.safetensors");
  CHECK(f.load("a").equal(a));
  CHECK(f.load("b").equal(b));
  CHECK(f.load("a", at::kBFloat16).equal(a.to(at::kBFloat16)));
  seer::io::SafetensorsCheckpoint ck(dir + "/m.safetensors");
  CHECK(ck.load("a", {3, 5}, at::kDouble).equal(a.to(at::kDouble)));
}

TEST_CASE("broken safetensors files give errors naming file and tensor", "[models][safetensors]") {
  const std::string dir = seer::test::scratch_dir("st_bad");
  const std::string p = dir + "/bad.safetensors";
  at::Tensor w = at::randn({4, 6});
  SECTION("truncated data") {
    write_safetensors(p, {{"w", w}}, "", 10);
    CHECK_THROWS_WITH(seer::io::SafetensorsFile(p), Contains("bad.safetensors") && Contains("'w'") && Contains("truncated"));
  }
  SECTION("shorter than the header length") {
    std::ofstream(p, std::ios::binary) << std::string("\x05\0\0", 3);
    CHECK_THROWS_WITH(seer::io::SafetensorsFile(p), Contains("bad.safetensors") && Contains("truncated"));
  }
  SECTION("header length past the end") {
    write_safetensors(p, {{"w", w}}, std::string(200, ' '), 150 + 96);
    CHECK_THROWS_WITH(seer::io::SafetensorsFile(p), Contains("bad.safetensors") && Contains("header length"));
  }
  SECTION("corrupt header JSON") {
    write_safetensors(p, {{"w", w}}, "{\"w\": {\"dtype\": \"F32\", \"shape\": [4, 6]");
    CHECK_THROWS_WITH(seer::io::SafetensorsFile(p), Contains("bad.safetensors") && Contains("invalid JSON"));
  }
  SECTION("offsets that disagree with the shape") {
    write_safetensors(p, {{"w", w}}, R"({"w": {"dtype": "F32", "shape": [4, 7], "data_offsets": [0, 96]}})");
    CHECK_THROWS_WITH(seer::io::SafetensorsFile(p), Contains("'w'") && Contains("needs 112 bytes"));
  }
  SECTION("a shape whose element count wraps 64 bits to zero bytes") {
    // 2^32 x 2^32 floats is 2^66 bytes, which wrapped to 0 and matched offsets [0, 0].
    write_safetensors(p, {{"w", w}},
                      R"({"w": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})");
    CHECK_THROWS_WITH(seer::io::SafetensorsFile(p), Contains("'w'") && Contains("more than 2^48"));
  }
  SECTION("a float where an integer belongs (found by tests/fuzz)") {
    write_safetensors(p, {{"w", w}}, R"({"w": {"dtype": "F32", "shape": [1.1e26], "data_offsets": [0, 96]}})");
    CHECK_THROWS_WITH(seer::io::SafetensorsFile(p), Contains("'w'") && Contains("shape entry = 1.1e+26"));
  }
  SECTION("unknown dtype") {
    write_safetensors(p, {{"w", w}}, R"({"w": {"dtype": "F8_E9", "shape": [4, 6], "data_offsets": [0, 96]}})");
    CHECK_THROWS_WITH(seer::io::SafetensorsFile(p), Contains("'w'") && Contains("unsupported dtype 'F8_E9'"));
  }
  SECTION("missing tensor, wrong shape, wrong dtype") {
    write_safetensors(p, {{"w", w}, {"ids", at::arange(5, at::kLong)}});
    seer::io::SafetensorsCheckpoint ck(p);
    CHECK_THROWS_WITH(ck.load("v", {4, 6}, at::kFloat), Contains("bad.safetensors") && Contains("'v'") && Contains("missing"));
    CHECK_THROWS_WITH(ck.load("w", {6, 4}, at::kFloat), Contains("'w'") && Contains("[4, 6]") && Contains("[6, 4]"));
    CHECK_THROWS_WITH(ck.load("ids", {5}, at::kFloat), Contains("'ids'") && Contains("I64"));
  }
  SECTION("folder without weights") {
    CHECK_THROWS_WITH(seer::io::SafetensorsCheckpoint(dir), Contains("no model.safetensors"));
  }
}

TEST_CASE("HF checkpoints that do not match their config.json are rejected clearly", "[models][safetensors]") {
  if (seer::test::hf_fixture_root().empty()) SEER_SKIP("venv python missing: " SEER_TEST_PYTHON);
  const std::string dir = seer::test::scratch_dir("hf_bad");
  REQUIRE(std::system(fmt::format("cp -r '{}/qwen2_gqa_untied/.' '{}'", seer::test::hf_fixture_root(), dir).c_str()) == 0);
  nlohmann::json cfg;
  std::ifstream(dir + "/config.json") >> cfg;
  SECTION("intermediate_size differs from the weights") {
    cfg["intermediate_size"] = 81;
    std::ofstream(dir + "/config.json") << cfg.dump();
    CHECK_THROWS_WITH(seer::core::load_hf_decoder(dir),
                      Contains("model.safetensors") && Contains("model.layers.0.mlp.gate_proj.weight") &&
                      Contains("[80, 64]") && Contains("[81, 64]"));
  }
  SECTION("more layers than the checkpoint holds") {
    cfg["num_hidden_layers"] = 3;
    std::ofstream(dir + "/config.json") << cfg.dump();
    CHECK_THROWS_WITH(seer::core::load_hf_decoder(dir), Contains("model.layers.2.") && Contains("missing"));
  }
  SECTION("heads that do not divide") {
    cfg["num_key_value_heads"] = 3;
    std::ofstream(dir + "/config.json") << cfg.dump();
    CHECK_THROWS_WITH(seer::core::load_hf_decoder(dir), Contains("config.json") && Contains("does not divide"));
  }
  SECTION("unsupported model type") {
    cfg["model_type"] = "gpt_neox";
    std::ofstream(dir + "/config.json") << cfg.dump();
    CHECK_THROWS_WITH(seer::core::load_hf_decoder(dir), Contains("config.json") && Contains("'gpt_neox'"));
  }
  SECTION("truncated weights file") {
    const std::string w = dir + "/model.safetensors";
    struct stat st {};
    REQUIRE(::stat(w.c_str(), &st) == 0);
    REQUIRE(::truncate(w.c_str(), st.st_size - 100) == 0);
    CHECK_THROWS_WITH(seer::core::load_hf_decoder(dir), Contains("model.safetensors") && Contains("truncated"));
  }
}
