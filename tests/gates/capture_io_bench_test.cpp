// Timings behind the capture and distillation defaults (hidden: not part of the suite; they
// assert nothing). Run one with
//   build/tests/seer_gates_tests "[.capture_io_bench]"    # write/read one 8k window
//   build/tests/seer_gates_tests "[.distill_step_bench]"  # trainer steps/s, batched vs per sample
// Shapes are SmolLM2-135M's (30 layers, Hq 9, Hkv 3, D 64, gate d 128, 64-token blocks).
#include "catch.h"

#include "core/gate/distill_trainer.h"
#include "data/capture_dataset.h"
#include "data/capture_folder.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>
#include <ATen/record_function.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>

using namespace seer;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kLayers = 30, kHq = 9, kHkv = 3, kD = 64, kBlock = 64;

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Processor time of this process: on a shared machine a steadier clock than the wall.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

data::CaptureFileInfo smollm_info() {
  data::CaptureFileInfo i;
  i.model = "SmolLM2-135M-shaped";
  i.block_size = kBlock;
  i.num_layers = kLayers;
  i.num_q_heads = kHq;
  i.num_kv_heads = kHkv;
  i.head_dim = kD;
  i.g_dtype = "float16";
  i.qk_dtype = "float16";
  return i;
}

// One window as the hook hands it over: G float16 (row-normalised, causal, peaked like real
// maps), pooled Q/K float16.
data::CaptureSequence window(int64_t tokens, at::Generator& gen) {
  const int64_t nb = tokens / kBlock;
  data::CaptureSequence s;
  s.length = tokens;
  auto causal = at::ones({nb, nb}, at::kBool).tril();
  for (int64_t l = 0; l < kLayers; ++l) {
    data::CaptureLayerData d;
    d.layer = l;
    auto g = at::randn({kHq, nb, nb}, gen, at::kFloat).mul(3).exp().masked_fill(causal.logical_not(), 0);
    d.g = (g / g.sum(-1, true)).to(at::kHalf);
    d.q_pooled = at::randn({nb, kHq, 3 * kD}, gen, at::kFloat).to(at::kHalf);
    d.k_pooled = at::randn({nb, kHkv, 3 * kD}, gen, at::kFloat).to(at::kHalf);
    s.layers.push_back(d);
  }
  return s;
}

core::GateSet smollm_gates() {
  core::GateConfig c;
  c.block_size = kBlock;
  core::GateRope r;
  r.rope.theta = 100000.0;
  r.max_position_embeddings = 8192;
  return core::GateSet::init(c, {kHq, kHkv, kD}, r, kLayers, "bench");
}

core::DistillSample sample_of(const data::CaptureSequence& w) {
  core::DistillSample s;
  s.id = "w";
  s.tokens = w.length;
  for (const auto& l : w.layers) {
    s.layers.push_back(l.layer);
    s.q_pooled.push_back(l.q_pooled.to(at::kFloat));
    s.k_pooled.push_back(l.k_pooled.to(at::kFloat));
    s.g.push_back(l.g.to(at::kFloat));
  }
  return s;
}

}  // namespace

TEST_CASE("capture write/read speed of one 8k window", "[.capture_io_bench]") {
  auto gen = at::detail::createCPUGenerator(1);
  const int64_t tokens = 8192, reps = 5;
  const auto w = window(tokens, gen);
  fmt::print("one window of {} tokens, {} layers, {}; median of {}\n", tokens, kLayers,
             H5_VERS_INFO, reps);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  struct Setting {
    std::string compression, qk_dtype;
  };
  // The last one is the layout before float16 Q/K and the choice of compression.
  for (const Setting& set : {Setting{"none", "float16"}, Setting{"deflate", "float16"},
                             Setting{"deflate", "float32"}}) {
    const auto dir = gates_test::fresh_dir("io_bench_" + set.compression + set.qk_dtype);
    auto info = smollm_info();
    info.qk_dtype = set.qk_dtype;
    std::vector<double> write_s;
    {
      data::CaptureFolderWriter out(dir, info, 32, set.compression);
      for (int64_t r = 0; r < reps; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        out.write(r, w);
        out.finish();
        write_s.push_back(since(t0));
      }
    }
    const auto bytes = fs::file_size(dir / "capture_00000.h5");
    data::CaptureDataset ds(data::capture_files(dir.string()));
    data::CaptureReadLayout layout;    // the default gate: Q avg, K max|min|avg
    layout.q_kinds = {kernels::PoolKind::kAvg};
    layout.k_kinds = {kernels::PoolKind::kMax, kernels::PoolKind::kMin, kernels::PoolKind::kAvg};
    std::vector<double> read_s, read_all_s;
    for (int64_t r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      ds.read_batch({r}, layout);
      read_s.push_back(since(t0));
    }
    data::CaptureReader reader(dir / "capture_00000.h5");
    for (int64_t r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      for (int64_t l = 0; l < kLayers; ++l) reader.read_layer(data::capture_sequence_id(r), l);
      read_all_s.push_back(since(t0));
    }
    fmt::print("  {:8s} Q/K {}: write {:.3f} s, {:.1f} MB; training read (gate's pools, stored "
               "dtype) {:.3f} s; read_layer (all pools, float32) {:.3f} s\n",
               set.compression, set.qk_dtype, median(write_s), bytes / 1e6 / reps,
               median(read_s), median(read_all_s));
  }
}

TEST_CASE("distillation steps/s: batched vs one sample at a time", "[.distill_step_bench]") {
  // 2k windows: the quickstart's batch of 4 and the paper's batch of 16 (8k takes minutes a step
  // on a CPU). One intra-op thread, steps per processor-second over steps 2..N (the first warms
  // up, the last checkpoints), so other work on the machine changes little.
  at::set_num_threads(1);
  for (const auto& [tokens, batch] : {std::pair<int64_t, int64_t>{2048, 4}, {2048, 16}}) {
    auto gen = at::detail::createCPUGenerator(2);
    std::vector<core::DistillSample> samples;
    for (int64_t i = 0; i < batch; ++i) samples.push_back(sample_of(window(tokens, gen)));
    core::DistillTrainConfig cfg;
    cfg.steps = 5;
    cfg.batch = batch;
    cfg.checkpoint_every = 1000;
    // The one-sample-at-a-time loop as the trainer ran it: per sample a forward, the per-layer KL
    // and the loss read back, a backward; then clip_grad_norm_ and AdamW.
    auto g = smollm_gates();
    g.set_requires_grad(true);
    auto params = g.parameters();
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-3));
    double t0 = cpu_seconds();
    for (int64_t step = 0; step < cfg.steps; ++step) {
      if (step == 1) t0 = cpu_seconds();
      opt.zero_grad();
      for (const auto& s : samples) {
        std::vector<double> kl;
        auto loss = core::distill_sample_loss(g, s, cfg.loss, &kl) / static_cast<double>(batch);
        loss.backward();
        (void)loss.item<double>();
      }
      torch::nn::utils::clip_grad_norm_(params, 1.0);
      opt.step();
    }
    const double before = (cfg.steps - 1) / (cpu_seconds() - t0);
    double after[2];
    for (int micro : {0, 1}) {
      auto gb = smollm_gates();
      core::DistillTrainer t(gb, [&](int64_t i) { return samples[i]; }, batch, cfg,
                             gates_test::fresh_dir("step_bench"));
      t.set_micro_batch(micro);
      double first = 0, last = 0;
      t.on_step([&](const core::DistillStepMetrics& m) {
        (m.step == 1 ? first : last) = cpu_seconds();
      });
      t.run();
      after[micro] = (cfg.steps - 1) / (last - first);
    }
    fmt::print("{} tokens, batch {}, steps per CPU-second: one sample at a time {:.3f}; batched "
               "{:.3f}; micro_batch 1 {:.3f}\n", tokens, batch, before, after[0], after[1]);
    // Operator calls per step (forward, backward and optimiser; nested calls included): on a GPU
    // each leaf is a kernel launch, and at these sizes launches, not arithmetic, set the time.
    static std::atomic<int64_t> ops{0};
    auto handle = at::addGlobalCallback(
        at::RecordFunctionCallback([](const at::RecordFunction&) -> std::unique_ptr<at::ObserverContext> {
          ++ops;
          return nullptr;
        }).scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
    ops = 0;
    opt.zero_grad();
    for (const auto& s : samples) {
      std::vector<double> kl;
      (core::distill_sample_loss(g, s, cfg.loss, &kl) / static_cast<double>(batch)).backward();
    }
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    opt.step();
    const int64_t ops_before = ops;
    auto gb = smollm_gates();
    cfg.steps = 1;
    core::DistillTrainer t(gb, [&](int64_t i) { return samples[i]; }, batch, cfg,
                           gates_test::fresh_dir("step_bench"));
    int64_t ops_after = 0;
    t.on_step([&](const core::DistillStepMetrics&) { ops_after = ops; });
    ops = 0;
    t.run();
    at::removeCallback(handle);
    fmt::print("  operator calls per step: one sample at a time {}, batched {}\n", ops_before,
               ops_after);
    std::fflush(stdout);
  }
}
