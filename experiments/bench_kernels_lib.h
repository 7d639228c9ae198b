// The kernel benchmark of issue 5 as a library function, so the `bench_kernels` stage and a
// standalone driver (bench/bench_kernels_main.cpp) share it. Times Seer's dense, max-pool and
// block-sparse attention and the SDPA FlashAttention-2 and cuDNN backends (called through ATen)
// on the paper's Llama-3.1-8B shape, with CUDA events, warm-up, rotating inputs and the median of
// repetitions. FlexAttention runs from Python (bench/flex_bench.py) and is merged by the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace seer::experiments {

struct KernelBenchConfig {
  std::vector<int64_t> seqs = {8192, 32768, 131072};
  std::vector<double> keeps = {1.0, 0.5, 0.3, 0.1, 0.05};
  int64_t block = 64;
  int64_t batch = 1, hq = 32, hkv = 8, head_dim = 128;
  int warmup = 2;
  int reps = 10;              // median of this many timed calls (fewer when one call is long)
  double max_seconds = 3.0;   // per (impl, seq, keep): caps reps for the 128k runs
  uint64_t seed = 1234;
  bool peers = true;          // also SDPA flash and cuDNN
  bool maxpool = true;
  // Also time gate-like masks (sink + local band + per-head vertical stripes shared by all later
  // query blocks) at the keeps below 1, as extra rows seer_sparse_gate*; the random masks stay
  // the headline rows.
  bool gate_masks = true;
  // FlexAttention peer rows (impl "flex"): bench/flex_bench.py, run by the bench_kernels stage
  // after the C++ timings (run_kernel_benchmark itself times only Seer and SDPA).
  bool flex = true;
  // Kernel tile variants to time besides the default ('A', 'B', 'C', and for sparse only 'H',
  // 'S'; see kernels/cuda/launch.h): rows get the suffix _A / _B / ..., the default none.
  std::string variants = "";
  int64_t err_rows = 2048;    // rows x 2 heads checked against SDPA for max_rel_err
};

struct KernelBenchRow {
  std::string impl;      // seer_dense, seer_sparse, seer_maxpool, sdpa_flash, sdpa_cudnn
  int64_t seq = 0;
  double keep = 1.0;     // requested keep fraction
  double kept = 1.0;     // achieved fraction of causal blocks computed
  int64_t block = 64;
  double ms = 0.0;       // median
  double ms_min = 0.0;
  int reps = 0;
  double tflops = 0.0;   // computed (kept) causal FLOPs / time
  double max_rel_err = -1.0;   // ||out - ref|| / ||ref|| on checked rows; -1 when not checked
  std::string mask;      // sparse rows: "random" or "gate"; empty otherwise
};

using BenchLog = std::function<void(const std::string&)>;

std::vector<KernelBenchRow> run_kernel_benchmark(const KernelBenchConfig& cfg, const BenchLog& log);

// The JSON object of issue 5: {"gpu","date","command","torch","git","rows":[...]}.
std::string kernel_bench_json(const std::vector<KernelBenchRow>& rows, const std::string& gpu,
                              const std::string& date, const std::string& command,
                              const std::string& git);

// Name of CUDA device 0, e.g. "NVIDIA H100 80GB HBM3".
std::string cuda_device_name();

}  // namespace seer::experiments
