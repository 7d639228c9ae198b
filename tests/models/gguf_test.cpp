// GGUF reader vs the PyPI `gguf` package (gguf_reference.py): dequantisation of every supported
// type on random blocks, the embedded SmolLM2 file's tensors, its metadata -> ModelConfig, the
// Q/K row un-permutation, and clear errors on broken files.
#include "catch.h"
#include "models_util.h"

#include "core/io/gguf.h"
#include "core/io/safetensors.h"
#include "core/model/model_config.h"
#include "core/model/model_loader.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <optional>

namespace fs = std::filesystem;
using seer::test::Contains;

namespace {

const std::string& reference_dir() {
  static const std::string dir = [] {
    if (!seer::test::have_python()) return std::string();
    const std::string d = seer::test::scratch_dir("gguf_ref");
    const std::string embedded = seer::test::embedded_gguf_path();
    const uint64_t seed = seer::test::fresh_seed();
    INFO("seed " << seed);
    if (!seer::test::run_python_script(
            "gguf_reference.py", fmt::format("'{}' {} {} > '{}/log.txt' 2>&1", d, seed,
                                             embedded.empty() ? "" : "'" + embedded + "'", d))) {
      FAIL("gguf_reference.py failed; see " << d << "/log.txt");
    }
    return d;
  }();
  return dir;
}

void compare_all(const seer::io::GgufFile& g, const std::string& ref_path, int expected_count) {
  seer::io::SafetensorsFile ref(ref_path);
  int compared = 0;
  for (const auto& name : ref.names()) {
    CAPTURE(name, seer::io::ggml_type_name(g.find_tensor(name)->type));
    at::Tensor mine = g.load_float(name);
    at::Tensor want = ref.load(name, at::kFloat);
    REQUIRE(mine.sizes() == want.sizes());
    // Both sides compute d * q (+ m) in float32 from the same fp16 scales: equal to rounding.
    CHECK(seer::test::max_rel_error(mine, want, 1e-3) < 1e-6);
    ++compared;
  }
  CHECK(compared == expected_count);
}

int64_t file_size_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  return static_cast<int64_t>(in.tellg());
}

std::string copy_truncated(const std::string& src, const std::string& dst, uint64_t keep) {
  std::ifstream in(src, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  bytes.resize(std::min<uint64_t>(keep, bytes.size()));
  std::ofstream(dst, std::ios::binary) << bytes;
  return dst;
}

}  // namespace

TEST_CASE("GGUF dequantisation matches the gguf package on random blocks of every type", "[models][gguf]") {
  if (reference_dir().empty()) SEER_SKIP("venv python missing: " SEER_TEST_PYTHON);
  seer::io::GgufFile g(reference_dir() + "/synthetic.gguf");
  compare_all(g, reference_dir() + "/synthetic_ref.safetensors", 8);
}

TEST_CASE("GGUF dequantisation matches the gguf package on the embedded SmolLM2 file", "[models][gguf]") {
  if (seer::test::embedded_gguf_path().empty()) SEER_SKIP("assets/models not fetched: run scripts/fetch_model.sh");
  if (reference_dir().empty()) SEER_SKIP("venv python missing: " SEER_TEST_PYTHON);
  seer::io::GgufFile g(seer::test::embedded_gguf_path());
  compare_all(g, reference_dir() + "/embedded_ref.safetensors", 7);
}

TEST_CASE("GGUF metadata of the embedded model gives SmolLM2-135M's config", "[models][gguf]") {
  if (seer::test::embedded_gguf_path().empty()) SEER_SKIP("assets/models not fetched: run scripts/fetch_model.sh");
  seer::io::GgufFile g(seer::test::embedded_gguf_path());
  const seer::core::ModelConfig c = seer::core::model_config_from_gguf(g);
  CHECK(c.family == seer::core::ModelFamily::kLlama);
  CHECK(c.num_hidden_layers == g.get_int("llama.block_count"));
  CHECK(c.hidden_size == 576);
  CHECK(c.num_attention_heads == 9);
  CHECK(c.num_key_value_heads == 3);
  CHECK(c.head_dim == 64);
  CHECK(c.vocab_size == 49152);
  CHECK(c.tie_word_embeddings);
  CHECK(c.rope.theta == 100000.0);
  CHECK(c.rotary_dim() == 64);
}

TEST_CASE("un-permuting llama.cpp's rotary rows inverts the converter's permutation", "[models][gguf]") {
  const int64_t n_head = GENERATE(1, 3, 9);
  const int64_t D = GENERATE(2, 8, 64);
  CAPTURE(n_head, D);
  at::Tensor hf = at::randn({n_head * D, 5});
  // convert_hf_to_gguf.py: w.reshape(n_head, 2, D/2, *).swapaxes(1, 2).reshape(w.shape)
  at::Tensor gguf = hf.reshape({n_head, 2, D / 2, 5}).transpose(1, 2).reshape({n_head * D, 5});
  CHECK(seer::core::unpermute_rotary_rows(gguf, n_head).equal(hf));
}

TEST_CASE("broken GGUF files give errors naming the file and the problem", "[models][gguf]") {
  const std::string dir = seer::test::scratch_dir("gguf_bad");
  SECTION("missing file") {
    CHECK_THROWS_WITH(seer::io::GgufFile(dir + "/nope.gguf"), Contains("nope.gguf") && Contains("cannot open"));
  }
  SECTION("wrong magic") {
    std::ofstream(dir + "/magic.gguf", std::ios::binary) << std::string("GGML\x03\0\0\0", 8) << std::string(64, '\0');
    CHECK_THROWS_WITH(seer::io::GgufFile(dir + "/magic.gguf"), Contains("magic.gguf") && Contains("not a GGUF file"));
  }
  SECTION("empty file") {
    std::ofstream(dir + "/empty.gguf", std::ios::binary);
    CHECK_THROWS_WITH(seer::io::GgufFile(dir + "/empty.gguf"), Contains("empty.gguf") && Contains("truncated"));
  }
  // Hand-built headers (the fuzz target's findings, tests/fuzz/regressions/gguf): one F32 tensor of
  // the given dims, optionally a general.alignment.
  auto header = [](std::vector<uint64_t> dims, std::optional<uint32_t> alignment) {
    std::string b("GGUF");
    auto put = [&b](auto v) { b.append(reinterpret_cast<const char*>(&v), sizeof(v)); };
    auto put_str = [&](const std::string& t) { put(uint64_t{t.size()}); b += t; };
    put(uint32_t{3});
    put(uint64_t{1});
    put(uint64_t{alignment ? 1u : 0u});
    if (alignment) {
      put_str("general.alignment");
      put(uint32_t{4});   // UINT32
      put(*alignment);
    }
    put_str("w");
    put(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) put(d);
    put(uint32_t{0});   // F32
    put(uint64_t{0});
    return b + std::string(64, '\0');
  };
  SECTION("dimensions whose product overflows") {
    std::ofstream(dir + "/huge.gguf", std::ios::binary) << header({32, uint64_t{1} << 59}, std::nullopt);
    CHECK_THROWS_WITH(seer::io::GgufFile(dir + "/huge.gguf"),
                      Contains("huge.gguf") && Contains("tensor 'w' dimension 1"));
  }
  SECTION("alignment 0") {
    std::ofstream(dir + "/align0.gguf", std::ios::binary) << header({4}, 0u);
    CHECK_THROWS_WITH(seer::io::GgufFile(dir + "/align0.gguf"),
                      Contains("align0.gguf") && Contains("general.alignment = 0"));
  }
  SECTION("a zero dimension loads as an empty tensor") {
    std::ofstream(dir + "/zero.gguf", std::ios::binary) << header({0, 3}, std::nullopt);
    CHECK(seer::io::GgufFile(dir + "/zero.gguf").load_float("w").numel() == 0);
  }
  if (seer::test::embedded_gguf_path().empty()) return;
  const std::string src = seer::test::embedded_gguf_path();
  SECTION("truncated inside the metadata") {
    const std::string p = copy_truncated(src, dir + "/meta_cut.gguf", 5000);
    CHECK_THROWS_WITH(seer::io::GgufFile(p), Contains("meta_cut.gguf") && Contains("truncated GGUF file"));
  }
  SECTION("truncated inside the tensor data") {
    const std::string p = copy_truncated(src, dir + "/data_cut.gguf", static_cast<uint64_t>(file_size_of(src)) - 1000);
    CHECK_THROWS_WITH(seer::io::GgufFile(p), Contains("data_cut.gguf") && Contains("ends past the end"));
  }
  SECTION("missing tensor") {
    seer::io::GgufFile g(src);
    CHECK_THROWS_WITH(g.load_float("blk.99.attn_q.weight"),
                      Contains("blk.99.attn_q.weight") && Contains("missing"));
    CHECK_THROWS_WITH(g.get_int("llama.no_such_key"), Contains("llama.no_such_key") && Contains("missing"));
  }
}
