// Input checks of kernels/attention.h (see attention_checks.h for the rules).
#include "kernels/attention_checks.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>

namespace seer::kernels::checks {
namespace {

std::string sizes_text(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

bool cpu_dtype_ok(at::ScalarType t) {
  return t == at::kFloat || t == at::kBFloat16 || t == at::kHalf || t == at::kDouble;
}

void check_dtype(const at::Tensor& t, const char* name) {
  if (t.is_cuda()) {
    TORCH_CHECK_TYPE(t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kHalf,
                     fmt::format("{}: dtype {} not supported by the CUDA kernels (expected "
                                 "bfloat16 or float16)",
                                 name, c10::toString(t.scalar_type())));
  } else {
    TORCH_CHECK_TYPE(t.device().is_cpu(),
                     fmt::format("{}: device {} not supported (expected cpu or cuda)", name,
                                 t.device().str()));
    TORCH_CHECK_TYPE(cpu_dtype_ok(t.scalar_type()),
                     fmt::format("{}: dtype {} not supported (expected float32, bfloat16, float16 "
                                 "or float64)",
                                 name, c10::toString(t.scalar_type())));
  }
}

void check_4d(const at::Tensor& t, const char* name, const char* layout) {
  TORCH_CHECK_VALUE(t.defined(), fmt::format("{}: undefined tensor", name));
  TORCH_CHECK_VALUE(t.dim() == 4, fmt::format("{}: expected 4 dims {}, got {} dims {}", name,
                                              layout, t.dim(), sizes_text(t)));
  TORCH_CHECK_VALUE(t.size(3) == 0 || t.stride(3) == 1,
                    fmt::format("{}: dim 3 (D) must have stride 1, got stride {} (call "
                                ".contiguous())",
                                name, t.stride(3)));
}

void check_same_dim(const at::Tensor& a, const char* a_name, const at::Tensor& b,
                    const char* b_name, int64_t dim, const char* dim_name) {
  TORCH_CHECK_VALUE(a.size(dim) == b.size(dim),
                    fmt::format("{}: dim {} ({}) = {} differs from {}: dim {} ({}) = {}", a_name,
                                dim, dim_name, a.size(dim), b_name, dim, dim_name, b.size(dim)));
}

// seq_lens / cu_seqlens: 1-D, integer, on the CPU or q's device.
void check_index_vector(const at::Tensor& t, const char* name, const at::Tensor& q,
                        int64_t expected_len, const char* len_text, bool int32_only) {
  TORCH_CHECK_VALUE(t.defined(), fmt::format("{}: undefined tensor", name));
  TORCH_CHECK_VALUE(t.dim() == 1 && t.size(0) == expected_len,
                    fmt::format("{}: expected shape [{}] ({}), got {}", name, expected_len,
                                len_text, sizes_text(t)));
  if (int32_only) {
    TORCH_CHECK_TYPE(t.scalar_type() == at::kInt,
                     fmt::format("{}: dtype {} not supported (expected int32)", name,
                                 c10::toString(t.scalar_type())));
  } else {
    TORCH_CHECK_TYPE(t.scalar_type() == at::kInt || t.scalar_type() == at::kLong,
                     fmt::format("{}: dtype {} not supported (expected int32 or int64)", name,
                                 c10::toString(t.scalar_type())));
  }
  TORCH_CHECK_VALUE(t.device().is_cpu() || t.device() == q.device(),
                    fmt::format("{}: device {} is neither cpu nor q's device {}", name,
                                t.device().str(), q.device().str()));
}

void check_batch_layout(const at::Tensor& q, const at::Tensor& k, const AttnOptions& opts) {
  const bool varlen = opts.cu_seqlens_q.has_value() || opts.cu_seqlens_k.has_value();
  TORCH_CHECK_VALUE(!(varlen && opts.seq_lens.has_value()),
                    "seq_lens: given together with cu_seqlens_q/k; use one batch layout");
  if (varlen) {
    TORCH_CHECK_VALUE(opts.cu_seqlens_q.has_value(),
                      "cu_seqlens_q: missing (cu_seqlens_k given; varlen needs both)");
    TORCH_CHECK_VALUE(opts.cu_seqlens_k.has_value(),
                      "cu_seqlens_k: missing (cu_seqlens_q given; varlen needs both)");
    TORCH_CHECK_VALUE(q.size(0) == 1, fmt::format("q: dim 0 (B) = {} must be 1 with cu_seqlens "
                                                  "(varlen packs the sequences along dim 1)",
                                                  q.size(0)));
    const int64_t n = opts.cu_seqlens_q->defined() && opts.cu_seqlens_q->dim() == 1
                          ? opts.cu_seqlens_q->size(0)
                          : -1;
    TORCH_CHECK_VALUE(n >= 2, fmt::format("cu_seqlens_q: expected shape [B + 1] with B >= 1, got {}",
                                          opts.cu_seqlens_q->defined()
                                              ? sizes_text(*opts.cu_seqlens_q)
                                              : std::string("undefined")));
    check_index_vector(*opts.cu_seqlens_q, "cu_seqlens_q", q, n, "B + 1", true);
    check_index_vector(*opts.cu_seqlens_k, "cu_seqlens_k", q, n, "B + 1 as cu_seqlens_q", true);
  }
  if (opts.seq_lens.has_value()) {
    check_index_vector(*opts.seq_lens, "seq_lens", q, q.size(0), "B = q: dim 0", false);
    TORCH_CHECK_VALUE(q.size(1) == k.size(1),
                      fmt::format("seq_lens: padded batches need Sq == Sk, got q: dim 1 (Sq) = {}, "
                                  "k: dim 1 (Sk) = {}",
                                  q.size(1), k.size(1)));
  }
}

}  // namespace

std::vector<SeqSpan> check_attention_inputs(const at::Tensor& q, const at::Tensor& k,
                                            const at::Tensor& v, const AttnOptions& opts) {
  check_4d(q, "q", "[B, Sq, Hq, D]");
  check_4d(k, "k", "[B, Sk, Hkv, D]");
  check_4d(v, "v", "[B, Sk, Hkv, D]");
  TORCH_CHECK_VALUE(k.device() == q.device(), fmt::format("k: device {} differs from q: device {}",
                                                          k.device().str(), q.device().str()));
  TORCH_CHECK_VALUE(v.device() == q.device(), fmt::format("v: device {} differs from q: device {}",
                                                          v.device().str(), q.device().str()));
  check_dtype(q, "q");
  TORCH_CHECK_TYPE(k.scalar_type() == q.scalar_type(),
                   fmt::format("k: dtype {} differs from q: dtype {}", c10::toString(k.scalar_type()),
                               c10::toString(q.scalar_type())));
  TORCH_CHECK_TYPE(v.scalar_type() == q.scalar_type(),
                   fmt::format("v: dtype {} differs from q: dtype {}", c10::toString(v.scalar_type()),
                               c10::toString(q.scalar_type())));
  check_same_dim(k, "k", q, "q", 0, "B");
  check_same_dim(v, "v", q, "q", 0, "B");
  check_same_dim(v, "v", k, "k", 1, "Sk");
  check_same_dim(v, "v", k, "k", 2, "Hkv");
  check_same_dim(k, "k", q, "q", 3, "D");
  check_same_dim(v, "v", q, "q", 3, "D");
  const int64_t Hq = q.size(2);
  const int64_t Hkv = k.size(2);
  TORCH_CHECK_VALUE(Hkv > 0 && Hq % Hkv == 0,
                    fmt::format("k: dim 2 (Hkv) = {} does not divide Hq = {}", Hkv, Hq));
  TORCH_CHECK_VALUE(q.size(3) > 0, "q: dim 3 (D) = 0, expected a positive head dim");
  if (q.is_cuda()) {
    TORCH_CHECK_VALUE(q.size(3) == 64 || q.size(3) == 128,
                      fmt::format("q: dim 3 (D) = {} not supported by the CUDA kernels (expected 64 "
                                  "or 128)",
                                  q.size(3)));
  }
  TORCH_CHECK_VALUE(std::isfinite(opts.scale) && opts.scale >= 0.0,
                    fmt::format("opts.scale = {}: expected a finite value >= 0 (0 means 1/sqrt(D))",
                                opts.scale));
  check_batch_layout(q, k, opts);
  std::vector<SeqSpan> spans = seq_spans(q, k, opts);
  if (opts.causal) {
    for (const SeqSpan& s : spans) {
      if (opts.cu_seqlens_q.has_value()) {
        TORCH_CHECK_VALUE(s.q_len <= s.k_len,
                          fmt::format("cu_seqlens_q: sequence {} has Sq = {} > Sk = {} "
                                      "(cu_seqlens_k); causal attention needs Sq <= Sk",
                                      s.seq, s.q_len, s.k_len));
      } else {
        TORCH_CHECK_VALUE(s.q_len <= s.k_len,
                          fmt::format("q: dim 1 (Sq) = {} exceeds k: dim 1 (Sk) = {}; causal "
                                      "attention needs Sq <= Sk",
                                      s.q_len, s.k_len));
      }
    }
  }
  return spans;
}

void check_block_size(int64_t block) {
  TORCH_CHECK_VALUE(block == 16 || block == 32 || block == 64 || block == 128,
                    fmt::format("block = {} not supported (expected 16, 32, 64 or 128)", block));
}

void check_chunk_alignment(const std::vector<SeqSpan>& spans, int64_t block,
                           const AttnOptions& opts) {
  for (const SeqSpan& s : spans) {
    if (opts.cu_seqlens_q.has_value()) {
      TORCH_CHECK_VALUE(s.offset() % block == 0,
                        fmt::format("cu_seqlens_q/k: sequence {} has Sk - Sq = {} - {} = {}, not a "
                                    "multiple of block = {}",
                                    s.seq, s.k_len, s.q_len, s.offset(), block));
    } else {
      TORCH_CHECK_VALUE(s.offset() % block == 0,
                        fmt::format("k: dim 1 (Sk) - q: dim 1 (Sq) = {} - {} = {} is not a "
                                    "multiple of block = {}",
                                    s.k_len, s.q_len, s.offset(), block));
    }
  }
}

void check_block_index(const BlockIndex& blocks, const at::Tensor& q,
                       const std::vector<SeqSpan>& spans, const AttnOptions& opts,
                       const at::Tensor& k) {
  check_block_size(blocks.block);
  check_chunk_alignment(spans, blocks.block, opts);
  const int64_t B = static_cast<int64_t>(spans.size());
  const int64_t nbq = ceil_div(max_q_len(spans, q, opts), blocks.block);
  const int64_t nbk = ceil_div(max_k_len(spans, k, opts), blocks.block);
  const int64_t Hq = q.size(2);
  const auto check_tensor = [&](const at::Tensor& t, const char* name,
                                std::vector<int64_t> expected, const char* layout) {
    TORCH_CHECK_VALUE(t.defined(), fmt::format("{}: undefined tensor", name));
    TORCH_CHECK_VALUE(t.sizes() == at::IntArrayRef(expected),
                      fmt::format("{}: expected shape {} = [{}] (block = {}), got {}", name, layout,
                                  fmt::join(expected, ", "), blocks.block, sizes_text(t)));
    TORCH_CHECK_TYPE(t.scalar_type() == at::kInt,
                     fmt::format("{}: dtype {} not supported (expected int32)", name,
                                 c10::toString(t.scalar_type())));
    TORCH_CHECK_VALUE(t.device() == q.device(), fmt::format("{}: device {} differs from q: device {}",
                                                            name, t.device().str(),
                                                            q.device().str()));
    TORCH_CHECK_VALUE(t.is_contiguous(), fmt::format("{}: must be contiguous", name));
  };
  check_tensor(blocks.counts, "blocks.counts", {B, Hq, nbq}, "[B, Hq, nbq]");
  check_tensor(blocks.indices, "blocks.indices", {B, Hq, nbq, nbk}, "[B, Hq, nbq, nbk]");
}

void check_pool_inputs(const at::Tensor& x, int64_t block, const std::vector<PoolKind>& kinds,
                       const std::optional<at::Tensor>& seq_lens) {
  check_4d(x, "x", "[B, S, H, D]");
  check_dtype(x, "x");
  check_block_size(block);
  TORCH_CHECK_VALUE(!kinds.empty(), "kinds: empty, expected at least one of avg, max, min");
  if (seq_lens.has_value()) {
    check_index_vector(*seq_lens, "seq_lens", x, x.size(0), "B = x: dim 0", false);
    const at::Tensor lens = seq_lens->to(at::kCPU, at::kLong).contiguous();
    for (int64_t b = 0; b < x.size(0); ++b) {
      const int64_t len = lens.data_ptr<int64_t>()[b];
      TORCH_CHECK_VALUE(len >= 0 && len <= x.size(1),
                        fmt::format("seq_lens: entry {} = {} outside [0, S = {}]", b, len,
                                    x.size(1)));
    }
  }
}

}  // namespace seer::kernels::checks
