// Decoder vs transformers on tiny random Llama / Qwen2 checkpoints (make_hf_fixtures.py, fresh
// weights each run): fp32 logits within 1e-4 relative for one-shot prefill, chunked prefill and
// KV-cache decoding; GQA, q/k/v (and o/MLP) bias, each RoPE kind, tied/untied heads, shards.
#include "catch.h"
#include "models_util.h"

#include "core/io/safetensors.h"
#include "core/model/model_loader.h"
#include "core/model/linear.h"
#include "core/model/random_decoder.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>

#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <optional>
#include <vector>

namespace {

using seer::core::Decoder;
using seer::core::KVCache;
using seer::core::LogitsMode;

constexpr double kTol = 1e-4;

const std::vector<std::string>& case_names() {
  static const std::vector<std::string> names = {"llama_gqa_tied", "llama_mha_bias_linear",
                                                 "llama_dynamic", "llama_llama3",
                                                 "llama_yarn_headdim", "qwen2_gqa_untied",
                                                 "qwen2_tied_sharded"};
  return names;
}

const std::string& fixture_root() { return seer::test::hf_fixture_root(); }

struct Reference {
  at::Tensor ids;     // [B, S]
  at::Tensor logits;  // [B, S, V]
};

Reference load_reference(const std::string& dir) {
  seer::io::SafetensorsFile f(dir + "/reference.safetensors");
  return {f.load("input_ids"), f.load("logits", at::kFloat)};
}

}  // namespace

TEST_CASE("decoder matches transformers: one-shot, chunked prefill and KV decoding", "[models][decoder]") {
  if (fixture_root().empty()) SEER_SKIP("venv python missing: " SEER_TEST_PYTHON);
  const std::string name = GENERATE(from_range(case_names()));
  CAPTURE(name);
  const std::string dir = fixture_root() + "/" + name;
  Decoder model = seer::core::load_hf_decoder(dir);
  const Reference ref = load_reference(dir);
  const int64_t S = ref.ids.size(1);
  // transformers' dynamic NTK rescales with the length the current forward reaches, so only a
  // one-shot forward is comparable once S passes max_position_embeddings.
  const bool dynamic = name == "llama_dynamic";

  SECTION("one-shot prefill, all logits") {
    KVCache cache = model.new_cache();
    at::Tensor logits = model.forward(ref.ids, cache, LogitsMode::kAll);
    REQUIRE(logits.sizes() == ref.logits.sizes());
    const double err = seer::test::max_rel_error(logits, ref.logits);
    CAPTURE(err);
    CHECK(err < kTol);
    CHECK(cache.length() == S);
  }
  SECTION("chunked prefill") {
    if (dynamic) SEER_SKIP("dynamic NTK: chunked prefill is not comparable with one transformers forward");
    const int64_t chunk = GENERATE(1, 5, 7, 16);
    CAPTURE(chunk);
    KVCache cache = model.new_cache();
    std::vector<at::Tensor> parts;
    for (int64_t s = 0; s < S; s += chunk) {
      parts.push_back(model.forward(ref.ids.narrow(1, s, std::min(chunk, S - s)), cache, LogitsMode::kAll));
    }
    const double err = seer::test::max_rel_error(at::cat(parts, 1), ref.logits);
    CAPTURE(err);
    CHECK(err < kTol);
    KVCache cache2 = model.new_cache();
    at::Tensor last = model.prefill(ref.ids, cache2, chunk);
    CHECK(seer::test::max_rel_error(last, ref.logits.select(1, S - 1)) < kTol);
  }
  SECTION("prefill then token-by-token decoding with the KV cache") {
    if (dynamic) SEER_SKIP("dynamic NTK: decoding is not comparable with one transformers forward");
    const int64_t prompt = 9;
    KVCache cache = model.new_cache();
    at::Tensor first = model.prefill(ref.ids.narrow(1, 0, prompt), cache, 4);
    double err = seer::test::max_rel_error(first, ref.logits.select(1, prompt - 1));
    for (int64_t p = prompt; p < S; ++p) {
      at::Tensor step = model.forward(ref.ids.narrow(1, p, 1), cache, LogitsMode::kLast);
      err = std::max(err, seer::test::max_rel_error(step, ref.logits.select(1, p)));
    }
    CAPTURE(err);
    CHECK(err < kTol);
  }
}

TEST_CASE("decoder in bfloat16 and float16 stays close to float32", "[models][decoder]") {
  if (fixture_root().empty()) SEER_SKIP("venv python missing: " SEER_TEST_PYTHON);
  const std::string dir = fixture_root() + "/qwen2_gqa_untied";
  const Reference ref = load_reference(dir);
  const auto dtype = GENERATE(at::kBFloat16, at::kHalf);
  CAPTURE(c10::toString(dtype));
  seer::core::LoadOptions opts;
  opts.dtype = dtype;
  Decoder model = seer::core::load_hf_decoder(dir, opts);
  KVCache cache = model.new_cache();
  at::Tensor logits = model.forward(ref.ids, cache, LogitsMode::kAll);
  REQUIRE(logits.scalar_type() == at::kFloat);
  // bf16 has 8 mantissa bits: two layers of rounding keep logits within a few percent of scale.
  const double scale = ref.logits.abs().max().item<double>();
  const double err = (logits - ref.logits).abs().max().item<double>() / scale;
  CAPTURE(err);
  CHECK(err < (dtype == at::kBFloat16 ? 0.05 : 0.01));
  CHECK(err > 0.0);   // really ran in low precision
}

namespace {

// Records what the decoder passes and computes attention itself from the post-RoPE tensors.
class RecordingHook final : public seer::core::AttentionHook {
 public:
  explicit RecordingHook(bool answer) : answer_(answer) {}
  std::optional<at::Tensor> attend(const seer::core::LayerAttentionInput& in) override {
    calls.push_back({in.layer, in.q_offset, in.q.size(1), in.k.size(1)});
    CHECK(in.q_pre_rope.sizes() == in.q.sizes());
    CHECK(in.k_pre_rope.size(1) == in.q.size(1));
    CHECK(in.k.size(1) == in.q_offset + in.q.size(1));
    CHECK_FALSE(in.q_pre_rope.equal(in.q));   // RoPE changed something
    if (!answer_) return std::nullopt;
    seer::kernels::AttnOptions opts;
    opts.scale = in.scale;
    return seer::kernels::attention(in.q, in.k, in.v, opts).out;
  }
  void begin_sequence() override { ++sequences; }
  struct Call {
    int64_t layer, q_offset, sq, sk;
  };
  std::vector<Call> calls;
  int sequences = 0;

 private:
  bool answer_;
};

}  // namespace

TEST_CASE("attention hook sees pre-RoPE Q/K per layer and can replace attention", "[models][decoder]") {
  if (fixture_root().empty()) SEER_SKIP("venv python missing: " SEER_TEST_PYTHON);
  const std::string dir = fixture_root() + "/llama_gqa_tied";
  const Reference ref = load_reference(dir);
  Decoder model = seer::core::load_hf_decoder(dir);
  const bool answer = GENERATE(false, true);
  CAPTURE(answer);
  RecordingHook hook(answer);
  model.set_attention_hook(&hook);
  KVCache cache = model.new_cache();
  at::Tensor last = model.prefill(ref.ids, cache, 10);   // S = 24: chunks 10, 10, 4
  CHECK(hook.sequences == 1);
  REQUIRE(hook.calls.size() == 3 * 2);
  CHECK(hook.calls[2].layer == 0);
  CHECK(hook.calls[2].q_offset == 10);
  CHECK(hook.calls[5].sk == 24);
  CHECK(seer::test::max_rel_error(last, ref.logits.select(1, ref.ids.size(1) - 1)) < kTol);
}

TEST_CASE("decoder checks token ids on the host: range, dtype, layout", "[models][decoder]") {
  seer::core::ModelConfig shape;
  shape.vocab_size = 97;
  shape.hidden_size = 32;
  shape.intermediate_size = 48;
  shape.num_hidden_layers = 2;
  shape.num_attention_heads = 4;
  shape.num_key_value_heads = 2;
  shape.head_dim = 8;
  shape.rope.theta = 10000.0;
  Decoder model = seer::core::random_decoder(shape, at::kFloat, at::kCPU, 1);
  auto run = [&](const at::Tensor& ids) {
    KVCache cache = model.new_cache();
    return model.forward(ids, cache, LogitsMode::kAll);
  };
  CHECK_THROWS_WITH(run(at::tensor({3, 97}, at::kLong).view({1, 2})),
                    seer::test::Contains("token ids must be in [0, 97), got [3, 97]"));
  CHECK_THROWS_WITH(run(at::tensor({5, -1, 2}, at::kLong).view({1, 3})),
                    seer::test::Contains("got [-1, 5]"));
  // int32 ids and a non-contiguous view give the logits of the same ids as int64.
  const at::Tensor ids = at::tensor({4, 9, 96, 0, 17, 3}, at::kLong).view({2, 3});
  const at::Tensor ref = run(ids);
  CHECK(run(ids.to(at::kInt)).equal(ref));
  CHECK(run(ids.t().contiguous().t()).equal(ref));
}

TEST_CASE("core::linear equals at::linear bit for bit", "[models][decoder]") {
  const auto dtype = GENERATE(at::kFloat, at::kDouble, at::kBFloat16);
  const std::vector<int64_t> lead = GENERATE(std::vector<int64_t>{1, 1}, std::vector<int64_t>{2, 7},
                                             std::vector<int64_t>{5}, std::vector<int64_t>{3, 1, 4});
  const int64_t in = GENERATE(5, 64);
  const int64_t out = GENERATE(3, 96);
  const bool bias = GENERATE(false, true);
  CAPTURE(c10::toString(dtype), lead, in, out, bias);
  at::manual_seed(static_cast<uint64_t>(in * 131 + out + lead.size()));
  std::vector<int64_t> shape = lead;
  shape.push_back(in);
  const at::Tensor x = at::randn(shape).to(dtype);
  const at::Tensor w = at::randn({out, in}).to(dtype);
  const at::Tensor b = bias ? at::randn({out}).to(dtype) : at::Tensor();
  const at::Tensor ref = bias ? at::linear(x, w, b) : at::linear(x, w);
  const at::Tensor got = seer::core::linear(x, w, b);
  CHECK(got.sizes() == ref.sizes());
  CHECK(got.equal(ref));
  // A non-contiguous input takes at::linear's own path.
  const at::Tensor xt = x.transpose(0, x.dim() - 2);
  CHECK(seer::core::linear(xt, w, b).equal(bias ? at::linear(xt, w, b) : at::linear(xt, w)));
}

TEST_CASE("weights with NaN or Inf are refused naming the tensor", "[models][decoder]") {
  if (seer::test::hf_fixture_root().empty()) SEER_SKIP("venv python missing: " SEER_TEST_PYTHON);
  const std::string path = seer::test::hf_fixture_root() + "/qwen2_gqa_untied";
  seer::core::Decoder model = seer::core::load_hf_decoder(path);
  seer::core::DecoderWeights w = model.weights();
  CHECK_NOTHROW(seer::core::check_weights_finite(w, path));
  w.layers[1].k_proj = w.layers[1].k_proj.clone();
  w.layers[1].k_proj[2][3] = std::numeric_limits<float>::quiet_NaN();
  w.layers[1].k_proj[0][0] = -std::numeric_limits<float>::infinity();
  std::string message = "<no error>";
  try {
    seer::core::check_weights_finite(w, path);
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  CAPTURE(message);
  CHECK(message.find(path) != std::string::npos);
  CHECK(message.find("layers.1.k_proj") != std::string::npos);
  CHECK(message.find("holds 2 non-finite") != std::string::npos);
}
