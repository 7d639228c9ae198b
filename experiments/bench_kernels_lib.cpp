// The kernel benchmark of issue 5; see bench_kernels_lib.h.
#include "experiments/bench_kernels_lib.h"

#include "kernels/attention.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#ifdef SEER_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGeneratorImpl.h>
#endif

namespace seer::experiments {

#ifdef SEER_WITH_CUDA
namespace {

struct Timing {
  double median_ms = 0, min_ms = 0;
  int reps = 0;
};

// Median of CUDA-event timings of fn(rep) after warm-up; fn rotates its inputs by rep.
template <typename Fn>
Timing time_cuda(const Fn& fn, int warmup, int reps, double max_seconds) {
  for (int i = 0; i < warmup; ++i) fn(i);
  at::cuda::getCurrentCUDAStream().synchronize();
  std::vector<double> t;
  double total = 0;
  for (int r = 0; r < reps; ++r) {
    at::cuda::CUDAEvent start(cudaEventDefault), stop(cudaEventDefault);
    start.record();
    fn(r);
    stop.record();
    stop.synchronize();
    t.push_back(start.elapsed_time(stop));
    total += t.back();
    if (total > max_seconds * 1000.0 && t.size() >= 3) break;
  }
  std::sort(t.begin(), t.end());
  Timing out;
  out.reps = static_cast<int>(t.size());
  out.min_ms = t.front();
  out.median_ms = t.size() % 2 ? t[t.size() / 2] : 0.5 * (t[t.size() / 2 - 1] + t[t.size() / 2]);
  return out;
}

double rel_err(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.to(at::kFloat), y = b.to(at::kFloat);
  if (!at::isfinite(x).all().item<bool>()) return INFINITY;
  return (x - y).norm().item<double>() / std::max(1e-30, y.norm().item<double>());
}

// Causal FLOPs of one forward (QK^T and PV, 2 flops per multiply-add) over visible pairs.
double causal_flops(int64_t S, int64_t hq, int64_t D, int64_t batch) {
  const double pairs = double(S) * double(S + 1) / 2.0;
  return 4.0 * pairs * double(D) * double(hq) * double(batch);
}

struct Inputs {
  at::Tensor q, k, v;          // [B, S, H, D]
  at::Tensor qt, kt, vt;       // [B, H, S, D] views with K/V repeated to Hq (SDPA peers)
};

Inputs make_inputs(const KernelBenchConfig& c, int64_t S) {
  const auto f = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  Inputs x;
  x.q = at::randn({c.batch, S, c.hq, c.head_dim}, f);
  x.k = at::randn({c.batch, S, c.hkv, c.head_dim}, f);
  x.v = at::randn({c.batch, S, c.hkv, c.head_dim}, f);
  const int64_t g = c.hq / c.hkv;
  x.qt = x.q.transpose(1, 2);
  x.kt = x.k.repeat_interleave(g, 2).transpose(1, 2);
  x.vt = x.v.repeat_interleave(g, 2).transpose(1, 2);
  return x;
}

// Random block mask [B, Hq, nb, nb]: each causal off-diagonal block kept with probability keep,
// the diagonal always kept (the usual policy); seeded.
at::Tensor random_mask(const KernelBenchConfig& c, int64_t S, double keep, uint64_t seed) {
  const int64_t nb = (S + c.block - 1) / c.block;
  at::Generator gen = at::cuda::detail::createCUDAGenerator();
  gen.set_current_seed(seed);
  const auto f = at::TensorOptions().device(at::kCUDA);
  at::Tensor mask = at::rand({c.batch, c.hq, nb, nb}, gen, f.dtype(at::kFloat)) < keep;
  mask.logical_or_(at::eye(nb, f.dtype(at::kBool)));
  return mask;
}

// Gate-like block mask [B, Hq, nb, nb], the shape trained gates tend to give (neighbouring query
// blocks keep mostly the same key blocks): the diagonal, the sink (key block 0), a local band of
// w blocks before the diagonal, and per head a seeded set of "vertical stripes" (key blocks kept
// by every later query block). Stripes take ~3/4 of the budget: a column is a stripe with
// probability 0.75 keep, and the band width w = 0.125 keep nb - 2 (at least 0) brings the kept
// fraction of causal blocks to about keep (2 (2 + w) / nb on top of the stripes).
at::Tensor gate_like_mask(const KernelBenchConfig& c, int64_t S, double keep, uint64_t seed) {
  const int64_t nb = (S + c.block - 1) / c.block;
  at::Generator gen = at::cuda::detail::createCUDAGenerator();
  gen.set_current_seed(seed);
  const auto f = at::TensorOptions().device(at::kCUDA);
  const at::Tensor idx = at::arange(nb, f.dtype(at::kLong));
  const at::Tensor qi = idx.view({nb, 1}), kj = idx.view({1, nb});
  const int64_t w = std::max<int64_t>(0, static_cast<int64_t>(std::lround(0.125 * keep * double(nb))) - 2);
  const at::Tensor band = (qi - kj).le(w).logical_or(kj.eq(0));                       // [nb, nb]
  const at::Tensor stripes = at::rand({c.batch, c.hq, 1, nb}, gen, f.dtype(at::kFloat)) < 0.75 * keep;
  return stripes.logical_or(band).logical_and(kj.le(qi)).contiguous();                // [B, Hq, nb, nb]
}

// ||ours - ref|| / ||ref|| of block-sparse attention on the last `rows` rows of heads 0 and
// Hq / 2 + 1, the reference being SDPA with the element mask (block mask x causal).
double sparse_error(const KernelBenchConfig& c, const Inputs& x, const at::Tensor& mask,
                    const at::Tensor& ours) {
  const int64_t S = x.q.size(1), R = std::min<int64_t>(c.err_rows, S);
  const auto lf = at::TensorOptions().device(at::kCUDA).dtype(at::kLong);
  const at::Tensor rows = at::arange(S - R, S, lf);
  const at::Tensor cols = at::arange(S, lf);
  const std::vector<int64_t> heads = {0, c.hq / 2 + 1};
  double num = 0, den = 0;
  for (const int64_t h : heads) {
    const at::Tensor bm = mask.select(0, 0).select(0, h).index_select(0, rows.div(c.block, "floor"));
    const at::Tensor elem = bm.index_select(1, cols.div(c.block, "floor"))
                                .logical_and(cols.unsqueeze(0) <= rows.unsqueeze(1));
    const at::Tensor q = x.q.select(2, h).slice(1, S - R).unsqueeze(1);   // [B, 1, R, D]
    const int64_t hk = h / (c.hq / c.hkv);
    const at::Tensor k = x.k.select(2, hk).unsqueeze(1), v = x.v.select(2, hk).unsqueeze(1);
    const at::Tensor ref = at::scaled_dot_product_attention(q.to(at::kFloat), k.to(at::kFloat),
                                                            v.to(at::kFloat), elem.view({1, 1, R, S}));
    const at::Tensor got = ours.select(2, h).slice(1, S - R).unsqueeze(1).to(at::kFloat);
    num += (got - ref).pow(2).sum().item<double>();
    den += ref.pow(2).sum().item<double>();
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

struct VariantScope {   // sets SEER_FLASH_VARIANT for the kernels timed inside it
  explicit VariantScope(char v) {
    if (v != 0) {
      const char s[2] = {v, 0};
      setenv("SEER_FLASH_VARIANT", s, 1);
    } else {
      unsetenv("SEER_FLASH_VARIANT");
    }
  }
  ~VariantScope() { unsetenv("SEER_FLASH_VARIANT"); }
};

}  // namespace

std::vector<KernelBenchRow> run_kernel_benchmark(const KernelBenchConfig& c, const BenchLog& log) {
  if (!kernels::cuda_kernels_available())
    throw std::runtime_error("bench_kernels: CUDA kernels or device not available");
  std::vector<KernelBenchRow> rows;
  std::vector<char> variants = {0};
  for (const char v : c.variants) variants.push_back(v);
  auto add = [&](const std::string& impl, int64_t S, double keep, double kept, const Timing& t,
                 double err) {
    KernelBenchRow r;
    r.impl = impl, r.seq = S, r.keep = keep, r.kept = kept, r.block = c.block;
    r.ms = t.median_ms, r.ms_min = t.min_ms, r.reps = t.reps;
    r.tflops = causal_flops(S, c.hq, c.head_dim, c.batch) * kept / (t.median_ms * 1e-3) / 1e12;
    r.max_rel_err = err;
    rows.push_back(r);
    log(fmt::format("{:<16} seq {:>6} keep {:.2f} (kept {:.3f}) {:9.3f} ms (min {:.3f}, {} reps) "
                    "{:6.1f} TFLOP/s err {:.2e}",
                    impl, S, keep, kept, t.median_ms, t.min_ms, t.reps, r.tflops, err));
  };
  for (const int64_t S : c.seqs) {
    std::vector<Inputs> sets;
    sets.push_back(make_inputs(c, S));
    sets.push_back(make_inputs(c, S));
    auto pick = [&](int r) -> const Inputs& { return sets[r % sets.size()]; };
    const double scale = 1.0 / std::sqrt(double(c.head_dim));

    at::Tensor flash_out;
    if (c.peers) {
      const Timing tf = time_cuda([&](int r) {
        const Inputs& x = pick(r);
        flash_out = std::get<0>(at::_scaled_dot_product_flash_attention(x.qt, x.kt, x.vt, 0.0, true, false, scale));
      }, c.warmup, c.reps, c.max_seconds);
      add("sdpa_flash", S, 1.0, 1.0, tf, -1.0);
      try {
        const Timing tc = time_cuda([&](int r) {
          const Inputs& x = pick(r);
          (void)at::_scaled_dot_product_cudnn_attention(x.qt, x.kt, x.vt, std::nullopt, false, 0.0, true, false, scale);
        }, c.warmup, c.reps, c.max_seconds);
        add("sdpa_cudnn", S, 1.0, 1.0, tc, -1.0);
      } catch (const std::exception& e) {
        log(fmt::format("sdpa_cudnn seq {}: skipped ({})", S, std::string(e.what()).substr(0, 200)));
      }
      flash_out = std::get<0>(at::_scaled_dot_product_flash_attention(sets[0].qt, sets[0].kt, sets[0].vt, 0.0, true, false, scale))
                      .transpose(1, 2);
    }
    at::Tensor dense_out;
    for (const char v : variants) {
      if (v == 'H' || v == 'S' || v == 'X') continue;   // sparse only
      const VariantScope scope(v);
      const std::string suffix = v ? std::string("_") + v : std::string();
      const Timing td = time_cuda([&](int r) {
        const Inputs& x = pick(r);
        (void)kernels::attention(x.q, x.k, x.v);
      }, c.warmup, c.reps, c.max_seconds);
      const at::Tensor out = kernels::attention(sets[0].q, sets[0].k, sets[0].v).out;
      if (!v) dense_out = out;
      add("seer_dense" + suffix, S, 1.0, 1.0, td, flash_out.defined() ? rel_err(out, flash_out) : -1.0);
      if (c.maxpool) {
        const Timing tm = time_cuda([&](int r) {
          const Inputs& x = pick(r);
          (void)kernels::attention_with_block_maxpool(x.q, x.k, x.v, c.block);
        }, c.warmup, c.reps, c.max_seconds);
        const kernels::MaxpoolResult mp = kernels::attention_with_block_maxpool(sets[0].q, sets[0].k, sets[0].v, c.block);
        add("seer_maxpool" + suffix, S, 1.0, 1.0, tm, rel_err(mp.out, out));
      }
    }
    uint64_t seed = c.seed + static_cast<uint64_t>(S);
    // Random masks (the benchmark, rows seer_sparse*) first, then, when asked, gate-like
    // masks at the keeps below 1 (rows seer_sparse_gate*, "mask": "gate").
    std::vector<std::pair<std::string, double>> cases;
    for (const double keep : c.keeps) cases.emplace_back("random", keep);
    if (c.gate_masks)
      for (const double keep : c.keeps)
        if (keep < 1.0) cases.emplace_back("gate", keep);
    for (const auto& [mask_kind, keep] : cases) {
      const bool gate = mask_kind == "gate";
      const at::Tensor mask = gate ? gate_like_mask(c, S, keep, c.seed + 7 * static_cast<uint64_t>(S) + seed++)
                                   : random_mask(c, S, keep, seed++);
      const kernels::BlockIndex idx = kernels::block_index_from_mask(mask, c.block, S, S);
      const int64_t nb = mask.size(2);
      const double kept = idx.counts.sum().item<double>() /
                          (double(c.batch * c.hq) * double(nb) * double(nb + 1) / 2.0);
      for (const char v : variants) {
        const VariantScope scope(v);
        const std::string suffix = v ? std::string("_") + v : std::string();
        const Timing ts = time_cuda([&](int r) {
          const Inputs& x = pick(r);
          (void)kernels::block_sparse_attention(x.q, x.k, x.v, idx);
        }, c.warmup, c.reps, c.max_seconds);
        const at::Tensor out = kernels::block_sparse_attention(sets[0].q, sets[0].k, sets[0].v, idx).out;
        const double err = keep >= 1.0 && dense_out.defined() ? rel_err(out, dense_out)
                                                              : sparse_error(c, sets[0], mask, out);
        add((gate ? "seer_sparse_gate" : "seer_sparse") + suffix, S, keep, kept, ts, err);
        rows.back().mask = mask_kind;
      }
    }
  }
  return rows;
}

std::string cuda_device_name() {
  return at::cuda::getDeviceProperties(0)->name;
}

#else  // !SEER_WITH_CUDA

std::vector<KernelBenchRow> run_kernel_benchmark(const KernelBenchConfig&, const BenchLog&) {
  throw std::runtime_error("bench_kernels: Seer was built without CUDA kernels");
}
std::string cuda_device_name() { return "none"; }

#endif  // SEER_WITH_CUDA

std::string kernel_bench_json(const std::vector<KernelBenchRow>& rows, const std::string& gpu,
                              const std::string& date, const std::string& command,
                              const std::string& git) {
  auto quote = [](const std::string& s) {
    std::string o = "\"";
    for (const char ch : s) {
      if (ch == '"' || ch == '\\') o += '\\';
      if (ch == '\n') { o += "\\n"; continue; }
      o += ch;
    }
    return o + "\"";
  };
  auto num = [](double x) { return std::isfinite(x) ? fmt::format("{:.6g}", x) : std::string("null"); };
  std::string out = fmt::format("{{\n  \"gpu\": {},\n  \"date\": {},\n  \"command\": {},\n  \"torch\": {},\n  \"git\": {},\n  \"rows\": [\n",
                                quote(gpu), quote(date), quote(command), quote(TORCH_VERSION), quote(git));
  for (size_t i = 0; i < rows.size(); ++i) {
    const KernelBenchRow& r = rows[i];
    const std::string mask = r.mask.empty() ? std::string() : ", \"mask\": " + quote(r.mask);
    out += fmt::format("    {{\"impl\": {}, \"seq\": {}, \"keep\": {}, \"kept\": {}, \"block\": {}, \"ms\": {}, "
                       "\"ms_min\": {}, \"reps\": {}, \"tflops\": {}, \"max_rel_err\": {}{}}}{}\n",
                       quote(r.impl), r.seq, num(r.keep), num(r.kept), r.block, num(r.ms), num(r.ms_min),
                       r.reps, num(r.tflops), r.max_rel_err < 0 ? std::string("null") : num(r.max_rel_err),
                       mask, i + 1 < rows.size() ? "," : "");
  }
  out += "  ]\n}\n";
  return out;
}

}  // namespace seer::experiments
