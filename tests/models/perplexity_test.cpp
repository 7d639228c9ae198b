// perplexity() vs a direct float64 computation from one full forward per window, for
// non-overlapping and sliding windows, chunk sizes that do and do not divide the context.
#include "catch.h"
#include "models_util.h"

#include "core/io/safetensors.h"
#include "core/model/model_loader.h"
#include "core/model/perplexity.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

namespace {

// Scores token p of window [begin, end) for p in [max(begin + 1, prev_end), end).
double reference_nll(seer::core::Decoder& model, const std::vector<int64_t>& tokens, int64_t context,
                     int64_t stride, int64_t* count) {
  const int64_t N = static_cast<int64_t>(tokens.size());
  at::Tensor all = at::tensor(tokens, at::kLong);
  double nll = 0.0;
  int64_t prev_end = 0;
  *count = 0;
  for (int64_t begin = 0; begin < N; begin += stride) {
    const int64_t end = std::min(begin + context, N);
    if (end - begin >= 2) {
      seer::core::KVCache cache = model.new_cache();
      at::Tensor logp = at::log_softmax(
          model.forward(all.narrow(0, begin, end - begin).unsqueeze(0), cache, seer::core::LogitsMode::kAll)[0]
              .to(at::kDouble), -1);
      for (int64_t p = std::max(begin + 1, prev_end); p < end; ++p) {
        nll -= logp[p - 1 - begin][tokens[p]].item<double>();
        ++*count;
      }
      prev_end = end;
    }
    if (end == N) break;
  }
  return nll;
}

}  // namespace

TEST_CASE("perplexity matches a direct computation over windows", "[models][perplexity]") {
  if (seer::test::hf_fixture_root().empty()) SEER_SKIP("venv python missing: " SEER_TEST_PYTHON);
  seer::core::Decoder model = seer::core::load_hf_decoder(seer::test::hf_fixture_root() + "/qwen2_gqa_untied");
  const int64_t N = GENERATE(2, 23, 50);
  const int64_t context = GENERATE(8, 13);
  const int64_t stride = GENERATE(0, 5);
  const int64_t chunk = GENERATE(3, 64);
  CAPTURE(N, context, stride, chunk);
  std::vector<int64_t> tokens;
  at::Tensor r = at::randint(0, model.config().vocab_size, {N}, at::kLong);
  for (int64_t i = 0; i < N; ++i) tokens.push_back(r[i].item<int64_t>());

  seer::core::PerplexityOptions opts;
  opts.context = context;
  opts.stride = stride;
  opts.chunk_size = chunk;
  const seer::core::PerplexityResult got = seer::core::perplexity(model, tokens, opts);
  int64_t count = 0;
  const double want = reference_nll(model, tokens, context, stride > 0 ? stride : context, &count);
  CHECK(got.tokens == count);
  CHECK(std::abs(got.nll_sum - want) <= 1e-5 * std::max(1.0, std::abs(want)));
  if (stride == 0) {   // non-overlapping: each window scores all but its first token
    int64_t expect = 0;
    for (int64_t b = 0; b < N; b += context) expect += std::max<int64_t>(std::min(context, N - b) - 1, 0);
    CHECK(got.tokens == expect);
  } else {             // sliding: every token but the first
    CHECK(got.tokens == N - 1);
  }
  CHECK(std::isfinite(got.ppl()));
}

namespace {

// Attention output NaN in layer 1 from position `from` of each window on (positions count from the
// window's start): what an overflow would do.
class NanAttention final : public seer::core::AttentionHook {
 public:
  explicit NanAttention(int64_t from) : from_(from) {}
  std::optional<at::Tensor> attend(const seer::core::LayerAttentionInput& in) override {
    if (in.layer != 1 || in.q_offset + in.q.size(1) <= from_) return std::nullopt;
    auto out = at::zeros_like(in.q);
    const int64_t lo = std::max<int64_t>(0, from_ - in.q_offset);
    out.narrow(1, lo, in.q.size(1) - lo).fill_(std::numeric_limits<float>::quiet_NaN());
    return out;
  }

 private:
  int64_t from_;
};

}  // namespace

TEST_CASE("non-finite activations stop perplexity naming the window, chunk, layer and head",
          "[models][perplexity]") {
  if (seer::test::hf_fixture_root().empty()) SEER_SKIP("venv python missing: " SEER_TEST_PYTHON);
  seer::core::Decoder model = seer::core::load_hf_decoder(seer::test::hf_fixture_root() + "/qwen2_gqa_untied");
  std::vector<int64_t> tokens;
  at::Tensor r = at::randint(0, model.config().vocab_size, {40}, at::kLong);
  for (int64_t i = 0; i < 40; ++i) tokens.push_back(r[i].item<int64_t>());
  seer::core::PerplexityOptions opts;
  opts.context = 16;
  opts.chunk_size = 8;
  NanAttention nan_from_11(11);
  seer::core::ScopedAttentionHook attached(model, &nan_from_11);
  SECTION("check_finite on") {
    std::string message = "<no error>";
    try {
      seer::core::perplexity(model, tokens, opts);
    } catch (const std::runtime_error& e) {
      message = e.what();
    }
    CAPTURE(message);
    // The first window's second chunk holds positions 11..15 of layer 1's attention output.
    CHECK(message.find("window of tokens [0, 16), positions [8, 16)") != std::string::npos);
    CHECK(message.find("layer 1, head 0") != std::string::npos);
    CHECK(message.find("attention output") != std::string::npos);
  }
  SECTION("check_finite off: the result is NaN") {
    opts.check_finite = false;
    CHECK(std::isnan(seer::core::perplexity(model, tokens, opts).ppl()));
  }
}
