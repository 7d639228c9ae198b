// Stage capture: runs the frozen `model` over windows of the `data.train` split (CaptureHook)
// and writes, per sequence and selected layer, the ground-truth block map G and the block-pooled
// pre-RoPE Q/K to <stage>/capture/capture_NNNNN.h5, a new file every `sequences_per_file`
// sequences (data/capture_folder.h, data/capture_file.h). Resumable: complete sequences are
// skipped, incomplete ones rewritten; a file that a kill or a full disk left damaged keeps the
// complete sequences that still read, and the others are captured again.
// Under several processes (`seer launch`) the files still to write are shared out over the ranks
// (experiments/sharded_items.h), each written whole by one rank; the folder is the one a single
// process writes, file for file, and rank 0 writes capture.json once every file is closed.
//   seer run quickstart capture.num_sequences=4 capture.seq_len=2048 capture.layers=[0,5,10]
//
// Where a window's time goes: the prefill with the ground-truth kernel, one device -> host copy of
// the window's tensors at its end (the hook keeps them on the device, cast to float16 there, so a
// prefill never waits on a copy), and the HDF5 write, which runs on a background thread while the
// next window is prefilled. capture.json records the three.
//   One 8k window of SmolLM2 (30 layers, G [9, 128, 128] and pooled Q/K [128, 9 | 3, 192], all
//   float16) on a shared 2-core CPU (median of 5, tests/gates/capture_io_bench_test.cpp):
//   compression none writes it in 0.04-0.05 s (26.9 MB) and the trainer reads it back in
//   0.02 s; deflate writes in 1.2-1.7 s (19.8 MB) and reads in 0.18-0.20 s; float32 Q/K with
//   deflate write in 2.0-2.3 s (21.5 MB). Deflate saves a quarter of the bytes for 30x the write
//   time (longer than a GPU's prefill of the window) and 9x the read time, so the default is none.
#include "analysis/run_info.h"
#include "core/config/config_error.h"
#include "core/config/config_reader.h"
#include "core/gate/capture_hook.h"
#include "core/io/atomic_file.h"
#include "core/model/model_spec.h"
#include "core/sparsity/block_mask.h"
#include "data/capture_folder.h"
#include "experiments/data_splits.h"
#include "experiments/progress.h"
#include "experiments/sharded_items.h"
#include "experiments/stage_inputs.h"
#include "experiments/stages/gate_stages.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <regex>
#include <stdexcept>
#include <utility>

namespace seer::experiments {
namespace {

struct CaptureConfig {
  int64_t seq_len = 2048;
  int64_t num_sequences = 8;
  int64_t sequences_per_file = 32;
  int64_t block_size = 64;
  int64_t q_subblocks = 1;       // Q rows per block (the gates it trains: gate.q_subblocks)
  std::vector<int64_t> layers;   // empty = all
  std::vector<int64_t> heads;    // empty = all
  std::string g_dtype = "float16";
  std::string qk_dtype = "float16";
  std::string compression = "none";
  bool pooled = true;
};

CaptureConfig parse_capture_config(const config::ConfigReader& r) {
  CaptureConfig c;
  c.seq_len = r.get<int64_t>("seq_len", c.seq_len);
  if (c.seq_len < 1) r.fail("seq_len", "expected >= 1");
  c.num_sequences = r.get<int64_t>("num_sequences", c.num_sequences);
  if (c.num_sequences < 1) r.fail("num_sequences", "expected >= 1");
  c.sequences_per_file = r.get<int64_t>("sequences_per_file", c.sequences_per_file);
  if (c.sequences_per_file < 1) r.fail("sequences_per_file", "expected >= 1");
  c.block_size = core::read_block_size(r, "block_size", c.block_size);
  c.q_subblocks = r.get<int64_t>("q_subblocks", c.q_subblocks);
  if (!core::valid_q_subblocks(c.block_size, c.q_subblocks))
    r.fail("q_subblocks", fmt::format("{}: expected a divisor of block_size {} leaving "
                                      ">= 16-token sub-blocks", c.q_subblocks, c.block_size));
  c.layers = r.get<std::vector<int64_t>>("layers", {});
  c.heads = r.get<std::vector<int64_t>>("heads", {});
  c.g_dtype = r.get_choice("g_dtype", {"float16", "float32"}, c.g_dtype);
  c.qk_dtype = r.get_choice("qk_dtype", {"float16", "float32"}, c.qk_dtype);
  c.compression = r.get_choice("compression", {"none", "deflate"}, c.compression);
  c.pooled = r.get<bool>("pooled", c.pooled);
  r.finish();
  return c;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The windows [begin, end) of capture file k.
std::pair<int64_t, int64_t> file_windows(int64_t k, int64_t per_file, int64_t n) {
  return {k * per_file, std::min(n, (k + 1) * per_file)};
}

// k of "capture_<k>.h5" (data::capture_file_name).
int64_t file_index(const std::string& name) {
  std::smatch m;
  if (!std::regex_match(name, m, std::regex(R"(capture_(\d+)\.h5)")))
    throw std::logic_error("capture: not a capture file name: " + name);
  return std::stoll(m[1]);
}

// What the windows of one file cost, sent to rank 0 as JSON and summed there.
struct CaptureTimes {
  int64_t written = 0;
  double prefill_s = 0, to_host_s = 0, write_s = 0, write_wait_s = 0;

  nlohmann::json to_json(int rank) const {
    return {{"rank", rank}, {"written", written}, {"prefill", prefill_s}, {"to_host", to_host_s},
            {"write", write_s}, {"write_wait", write_wait_s}};
  }
  static CaptureTimes from_json(const nlohmann::json& j) {
    CaptureTimes t;
    t.written = j.at("written").get<int64_t>();
    t.prefill_s = j.at("prefill").get<double>();
    t.to_host_s = j.at("to_host").get<double>();
    t.write_s = j.at("write").get<double>();
    t.write_wait_s = j.at("write_wait").get<double>();
    return t;
  }
  void add(const CaptureTimes& o) {
    written += o.written;
    prefill_s += o.prefill_s;
    to_host_s += o.to_host_s;
    write_s += o.write_s;
    write_wait_s += o.write_wait_s;
  }
};

// Prefills one window under the capture hook and brings its tensors to the host.
data::CaptureSequence capture_window(core::Decoder& model, core::CaptureHook& hook,
                                     const std::vector<int64_t>& window, int64_t chunk,
                                     CaptureTimes& times) {
  auto tw = std::chrono::steady_clock::now();
  auto tokens = at::tensor(window, at::TensorOptions().dtype(at::kLong)).unsqueeze(0);
  auto cache = model.new_cache();
  model.prefill(tokens, cache, chunk);
  times.prefill_s += seconds_since(tw);
  tw = std::chrono::steady_clock::now();
  data::CaptureSequence seq;
  seq.length = static_cast<int64_t>(window.size());
  for (auto& [layer, c] : hook.take()) {
    data::CaptureLayerData d;
    d.layer = layer;
    d.g = c.g.squeeze(0).cpu();
    if (c.q_pooled.defined()) {
      d.q_pooled = c.q_pooled.squeeze(0).cpu();
      d.k_pooled = c.k_pooled.squeeze(0).cpu();
    }
    seq.layers.push_back(std::move(d));
  }
  times.to_host_s += seconds_since(tw);
  return seq;
}

class CaptureStage final : public Stage {
 public:
  std::string name() const override { return "capture"; }
  std::string summary() const override {
    return "ground-truth block maps G and pooled Q/K of the frozen model -> capture/*.h5";
  }
  std::vector<std::string> sections() const override { return {"model", "data", "capture"}; }
  bool data_parallel() const override { return true; }
  void validate(const config::ConfigTree& config) const override {
    core::parse_model_spec(config::ConfigReader(config, "model"));
    parse_capture_config(config::ConfigReader(config, "capture"));
    validate_data_splits(config, "train");
  }
  std::vector<std::string> check_inputs(const config::ConfigTree& config) const override {
    std::vector<std::string> warnings;
    const ModelLimits model = check_model_inputs(config);
    check_data_split_files(config);
    const config::ConfigReader capture(config, "capture");
    check_length_fits(model, capture, "seq_len", parse_capture_config(capture).seq_len, warnings);
    return warnings;
  }
  void run(StageContext& ctx) override {
    auto spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
    // Each rank of a multi-process run on its own GPU of the host.
    spec.device = ctx.world.rank_device(spec.device);
    const auto cfg = parse_capture_config(config::ConfigReader(ctx.config, "capture"));
    const auto& world = ctx.world;
    const auto t0 = std::chrono::steady_clock::now();
    ctx.log.info("loading {} ({}, {})", spec.path, spec.format, spec.dtype);
    core::Decoder model = core::load_decoder(spec);
    const auto& mc = model.config();
    for (int64_t l : cfg.layers)
      if (l < 0 || l >= mc.num_hidden_layers)
        throw config::ConfigError(fmt::format("capture.layers: layer {} outside [0, {})", l,
                                              mc.num_hidden_layers));
    for (int64_t h : cfg.heads)
      if (h < 0 || h >= mc.num_attention_heads)
        throw config::ConfigError(fmt::format("capture.heads: head {} outside [0, {})", h,
                                              mc.num_attention_heads));
    const auto windows = gate_token_windows(ctx.config, spec, cfg.seq_len, cfg.num_sequences);
    if (static_cast<int64_t>(windows.size()) < cfg.num_sequences)
      throw config::ConfigError(fmt::format(
          "capture.num_sequences = {}: the training text holds only {} windows of {} tokens",
          cfg.num_sequences, windows.size(), cfg.seq_len));
    data::CaptureFileInfo info;
    info.model = spec.name;
    info.block_size = cfg.block_size;
    info.num_layers = mc.num_hidden_layers;
    info.num_q_heads = mc.num_attention_heads;
    info.num_kv_heads = mc.num_key_value_heads;
    info.head_dim = mc.head_dim;
    info.layers = cfg.layers;
    info.heads = cfg.heads;
    info.g_dtype = cfg.g_dtype;
    info.qk_dtype = cfg.qk_dtype;
    info.q_subblocks = cfg.q_subblocks;
    const auto dir = ctx.stage_dir / "capture";
    const int64_t n = static_cast<int64_t>(windows.size());

    // Rank 0 scans (and repairs) the whole folder before any rank opens a file, and hands out the
    // files that miss a window (experiments/sharded_items.h). A window's file follows from its
    // index alone, so the folder is the same whatever the number of ranks that filled it, and a
    // resume under another number finds every file where it expects it.
    std::vector<std::string> pending;
    int64_t reused = 0;
    std::optional<Progress> progress;
    if (world.is_main()) {
      data::CaptureFolderWriter scan(dir, info, cfg.sequences_per_file, cfg.compression);
      for (const auto& repair : scan.repairs()) ctx.log.info("{}", repair);
      for (int64_t k = 0; k * cfg.sequences_per_file < n; ++k) {
        const auto [begin, end] = file_windows(k, cfg.sequences_per_file, n);
        bool missing = false;
        for (int64_t w = begin; w < end; ++w) {
          if (scan.has_sequence(w)) ++reused;
          else missing = true;
        }
        if (missing) pending.push_back(data::capture_file_name(k));
      }
      scan.finish();
      progress.emplace("capture", n);
      if (reused > 0) progress->update_reused(reused);
    }
    if (world.size() > 1 && world.is_main()) {
      const int64_t files = (n + cfg.sequences_per_file - 1) / cfg.sequences_per_file;
      ctx.log.info("capture: {} of {} files to write over {} processes (file k of them on rank "
                   "k % {})", pending.size(), files, world.size(), world.size());
      if (!pending.empty() && static_cast<int64_t>(pending.size()) < world.size())
        ctx.log.info("warning: fewer files than processes, some ranks stay idle: lower "
                     "capture.sequences_per_file (now {}) to share the windows out",
                     cfg.sequences_per_file);
    }

    core::CaptureOptions opts;
    opts.block = cfg.block_size;
    opts.layers = cfg.layers;
    opts.heads = cfg.heads;
    opts.pooled = cfg.pooled;
    opts.q_subblocks = cfg.q_subblocks;
    opts.to_host = false;
    opts.g_dtype = data::capture_dtype(cfg.g_dtype);
    opts.pooled_dtype = data::capture_dtype(cfg.qk_dtype);
    core::CaptureHook hook(opts);
    core::ScopedAttentionHook attach(model, &hook);
    // Chunks must start on block boundaries for the hook's chunked G.
    const int64_t chunk = std::max<int64_t>(cfg.block_size,
                                            spec.chunk_size / cfg.block_size * cfg.block_size);
    at::NoGradGuard no_grad;
    int64_t done = reused;   // rank 0: windows in the folder, for the progress line
    CaptureTimes total;
    std::vector<int64_t> written_by_rank(static_cast<size_t>(world.size()), 0);
    run_sharded_items(
        world, ctx.stage_id + "/files", pending,
        [&](const std::vector<std::string>& mine, const ItemDone& finished) {
          for (const auto& name : mine) {
            const int64_t k = file_index(name);
            const auto [begin, end] = file_windows(k, cfg.sequences_per_file, n);
            CaptureTimes times;
            {
              // Closed before the file is reported done: the next stage may open it at once.
              data::CaptureFolderWriter writer(dir, info, cfg.sequences_per_file, cfg.compression,
                                               2, {k});
              for (const auto& repair : writer.repairs()) ctx.log.info("{}", repair);
              for (int64_t w = begin; w < end; ++w) {
                if (writer.has_sequence(w)) continue;
                writer.write(w, capture_window(model, hook, windows[static_cast<size_t>(w)],
                                               chunk, times));
                ++times.written;
                if (progress) progress->update(++done);
              }
              writer.finish();
              times.write_s = writer.write_seconds();
              times.write_wait_s = writer.wait_seconds();
            }
            finished(name, times.to_json(world.rank()));
          }
        },
        [&](const std::string&, nlohmann::json result) {
          const CaptureTimes times = CaptureTimes::from_json(result);
          total.add(times);
          written_by_rank.at(result.at("rank").get<size_t>()) += times.written;
          if (result.at("rank").get<int>() != 0) progress->update(done += times.written);
        });
    if (!world.is_main()) return;
    progress->finish();
    const double seconds = seconds_since(t0);
    const int64_t written = total.written;
    nlohmann::json out = analysis::run_info(ctx.config);
    out["capture_dir"] = dir.string();
    std::vector<std::string> files;
    for (const auto& f : data::capture_folder_files(dir)) files.push_back(f.filename().string());
    out["files"] = files;
    out["sequences"] = reused + written;
    out["written"] = written;
    out["skipped_complete"] = reused;
    out["seq_len"] = cfg.seq_len;
    out["compression"] = cfg.compression;
    out["processes"] = world.size();
    out["written_by_rank"] = written_by_rank;
    out["seconds"] = seconds;
    // Per written window, on the caller's thread: prefill (queued; a GPU may still be running
    // when it returns), to_host (waits for the device, then copies), write_wait (blocked on the
    // writer); on the writer thread: write (HDF5, overlapping the next prefill). Summed over the
    // processes.
    out["seconds_prefill"] = total.prefill_s;
    out["seconds_to_host"] = total.to_host_s;
    out["seconds_write_wait"] = total.write_wait_s;
    out["seconds_write"] = total.write_s;
    io::write_file_atomic(ctx.stage_dir / "capture.json", out.dump(2) + "\n");
    ctx.log.info("captured {} sequences ({} already there) of {} tokens in {:.1f} s -> {} ({} "
                 "files); per window: prefill {:.3f} s, to host {:.3f} s, write {:.3f} s "
                 "(background), write wait {:.3f} s", written, reused, cfg.seq_len, seconds,
                 dir.string(), files.size(), written ? total.prefill_s / written : 0.0,
                 written ? total.to_host_s / written : 0.0,
                 written ? total.write_s / written : 0.0,
                 written ? total.write_wait_s / written : 0.0);
  }
};

}  // namespace

std::unique_ptr<Stage> make_capture_stage() { return std::make_unique<CaptureStage>(); }

}  // namespace seer::experiments
