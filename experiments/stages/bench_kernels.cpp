// Stage bench_kernels (GPU only): times Seer's dense, max-pool and block-sparse attention against
// PyTorch SDPA (FlashAttention-2 and cuDNN backends) on the paper's Llama-3.1-8B attention shape,
// and writes kernels_<gpu>.json in the format of bench/results/ (issue 5), plus speedup.json and
// speedup_vs_sparsity.png (the paper's kernel figure: sparse vs our dense at each length).
// FlexAttention (bench.flex) runs from bench/flex_bench.py in the same run, on the same shape and
// masks (same seeds), and its rows join kernels.json.
//   seer run bench_kernels bench.seqs=[8192,32768] bench.flex=false
#include "analysis/run_info.h"
#include "core/config/config_reader.h"
#include "core/io/atomic_file.h"
#include "analysis/python_plot.h"
#include "experiments/bench_kernels_lib.h"
#include "experiments/kernel_speedup.h"
#include "experiments/stage.h"
#include "experiments/stages/stages.h"
#include "kernels/attention.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <ctime>

namespace seer::experiments {
namespace {

KernelBenchConfig parse_bench(const config::ConfigReader& r) {
  KernelBenchConfig c;
  c.seqs = r.get<std::vector<int64_t>>("seqs", c.seqs);
  c.keeps = r.get<std::vector<double>>("keeps", c.keeps);
  c.block = r.get<int64_t>("block", c.block);
  c.batch = r.get<int64_t>("batch", c.batch);
  c.hq = r.get<int64_t>("q_heads", c.hq);
  c.hkv = r.get<int64_t>("kv_heads", c.hkv);
  c.head_dim = r.get<int64_t>("head_dim", c.head_dim);
  c.warmup = r.get<int>("warmup", c.warmup);
  c.reps = r.get<int>("reps", c.reps);
  c.max_seconds = r.get<double>("max_seconds", c.max_seconds);
  c.seed = static_cast<uint64_t>(r.get<int64_t>("seed", static_cast<int64_t>(c.seed)));
  c.peers = r.get<bool>("peers", c.peers);
  c.maxpool = r.get<bool>("maxpool", c.maxpool);
  c.gate_masks = r.get<bool>("gate_masks", c.gate_masks);
  c.flex = r.get<bool>("flex", c.flex);
  if (c.seqs.empty()) r.fail("seqs", "expected at least one sequence length");
  for (double k : c.keeps) {
    if (k <= 0.0 || k > 1.0) r.fail("keeps", "every keep fraction must be in (0, 1]");
  }
  if (c.hq % c.hkv != 0) r.fail("kv_heads", "must divide q_heads");
  if (c.head_dim != 64 && c.head_dim != 128) r.fail("head_dim", "the CUDA kernels take 64 or 128");
  r.finish();
  return c;
}

std::string join(const std::vector<int64_t>& xs) {
  std::string s;
  for (const int64_t x : xs) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}
std::string join(const std::vector<double>& xs) {
  std::string s;
  for (const double x : xs) s += (s.empty() ? "" : ",") + fmt::format("{}", x);
  return s;
}

// FlexAttention rows from bench/flex_bench.py (Python: torch.compile'd flex_attention with a
// BlockMask of the same random masks), run after Seer's own timings so the GPU is otherwise idle.
// A peer that cannot run (no triton, a compile failure) costs its rows, not the run: the reason
// is logged and nothing is returned.
std::vector<KernelBenchRow> flex_rows(const KernelBenchConfig& c, const std::filesystem::path& out,
                                      const BenchLog& log) {
  try {
    analysis::run_project_script(
        "bench/flex_bench.py",
        {out.string(), "--seqs", join(c.seqs), "--keeps", join(c.keeps), "--seed",
         std::to_string(c.seed), "--batch", std::to_string(c.batch), "--q-heads",
         std::to_string(c.hq), "--kv-heads", std::to_string(c.hkv), "--head-dim",
         std::to_string(c.head_dim), "--block", std::to_string(c.block)});
    const auto j = nlohmann::json::parse(io::read_file(out));
    std::vector<KernelBenchRow> rows;
    for (const auto& r : j.at("rows")) {
      KernelBenchRow row;
      row.impl = r.at("impl").get<std::string>();
      row.seq = r.at("seq").get<int64_t>();
      row.keep = r.at("keep").get<double>();
      row.kept = r.at("kept").get<double>();
      row.block = r.at("block").get<int64_t>();
      row.ms = r.at("ms").get<double>();
      row.ms_min = std::nan("");   // do_bench reports the median only
      row.tflops = r.at("tflops").get<double>();
      row.mask = row.keep < 1.0 ? "random" : "";
      rows.push_back(row);
    }
    return rows;
  } catch (const std::exception& e) {
    log(fmt::format("warning: no FlexAttention rows: {}", e.what()));
    return {};
  }
}

class BenchKernelsStage final : public Stage {
 public:
  std::string name() const override { return "bench_kernels"; }
  std::string summary() const override {
    return "GPU kernel timings: Seer dense / max-pool / block-sparse vs SDPA flash, cuDNN, FlexAttention";
  }
  std::vector<std::string> sections() const override { return {"bench"}; }
  void validate(const config::ConfigTree& config) const override {
    parse_bench(config::ConfigReader(config, "bench"));
  }
  void run(StageContext& ctx) override {
    const auto cfg = parse_bench(config::ConfigReader(ctx.config, "bench"));
    if (!kernels::cuda_kernels_available()) {
      throw std::runtime_error("bench_kernels needs the CUDA kernels and a GPU (this build or "
                               "machine has neither); run it on the GPU machine");
    }
    const BenchLog log = [&](const std::string& line) { ctx.log.info(line); };
    auto rows = run_kernel_benchmark(cfg, log);
    if (cfg.flex) {
      log("FlexAttention (bench/flex_bench.py)");
      for (auto& r : flex_rows(cfg, ctx.stage_dir / "flex.json", log)) rows.push_back(std::move(r));
    }
    const std::string gpu = cuda_device_name();
    // The command (with its overrides) and the source commit, so a committed kernels_<gpu>.json
    // names what made it.
    const std::string command = analysis::run_command(ctx.run_dir);
    const std::string json =
        kernel_bench_json(rows, gpu, analysis::utc_timestamp(), command,
                          analysis::git_commit());
    io::write_file_atomic(ctx.stage_dir / "kernels.json", json);
    ctx.log.info("{} rows on {} -> {}", rows.size(), gpu, (ctx.stage_dir / "kernels.json").string());
    io::write_file_atomic(ctx.stage_dir / "speedup.json", kernel_speedup_json(rows, gpu).dump(2) + "\n");
    if (auto why = analysis::try_plot_script("speedup_vs_sparsity.py",
                                             {(ctx.stage_dir / "speedup.json").string(),
                                              (ctx.stage_dir / "speedup_vs_sparsity.png").string()})) {
      ctx.log.info("warning: no plot: {}", *why);
    }
  }
};

}  // namespace

std::unique_ptr<Stage> make_bench_kernels_stage() { return std::make_unique<BenchKernelsStage>(); }

}  // namespace seer::experiments
