// What the benchmark stages (eval_ruler, eval_longbench) share: the grid of sparsity settings
// (sweep's `methods` syntax, so gates / oracle / streaming / dense compare in one table), the
// gates to load, and a per-sample JSONL log that makes a cell resumable sample by sample.
//
//   eval_ruler:                   # or eval_longbench
//     gates: distill              # stage id of this run (its gates/), a folder, or "" (none)
//     block_size: 64              # for policies without gates; gates bring their own
//     chunk_size: 0               # prefill chunk; 0 = the whole prompt in one forward
//     max_new_tokens: 0           # cap on generated tokens; 0 = the benchmark's own
//     workers: 1                  # samples decoded side by side (threads; CUDA: one stream each)
//     check_finite: true          # NaN / Inf in activations, gate scores or logits stop the run
//     methods:
//       dense: {policy: dense}
//       gate: {policy: threshold, tau: [0.002, 0.0005]}
#pragma once

#include "core/config/config_reader.h"
#include "core/config/config_tree.h"
#include "core/gate/gate_set.h"
#include "core/model/decoder.h"
#include "core/model/model_spec.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "experiments/stage.h"
#include "experiments/sweep_grid.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace seer::experiments {

struct EvalGridConfig {
  std::string gates;
  int64_t block_size = 64;
  int64_t chunk_size = 0;
  int64_t max_new_tokens = 0;
  int64_t workers = 1;   // samples evaluated side by side (parallel_samples.h); results do not depend on it
  bool check_finite = true;   // experiments/sparse_generate.h
  std::vector<SweepSetting> settings;
};

// Reads a prefill chunk size (`chunk_size`): 0 = the whole prompt in one forward, else a positive
// multiple of `block` (chunked prefill keeps query blocks whole).
int64_t read_prefill_chunk(const config::ConfigReader& r, int64_t block, int64_t fallback);

// Reads the keys above from `r` (the stage's section) without finish(): the caller reads its own
// keys, then finishes. Every setting is checked as a `sparsity` section of `tree`.
EvalGridConfig parse_eval_grid(const config::ConfigReader& r, const config::ConfigTree& tree);

// `base` with `sparsity` replaced by the setting's (the cell's saved config.yaml).
config::ConfigTree setting_config(const config::ConfigTree& base, const SweepSetting& setting);

// The gates the grid needs (nullopt when no setting reads gate scores); `block` becomes their
// block size. Throws when a gate policy is listed without `gates`.
std::optional<core::GateSet> load_grid_gates(const StageContext& ctx, const EvalGridConfig& grid,
                                             const std::string& section,
                                             const core::ModelSpec& spec, int64_t* block);

// What both benchmark stages start from: the `model` section's model and tokenizer, and the
// grid's gates with the block size they bring (the grid's block_size when no setting uses gates).
struct EvalModel {
  core::ModelSpec spec;
  core::Decoder model;
  tokenizer::BpeTokenizer tokenizer;
  std::optional<core::GateSet> gates;
  int64_t block = 0;
};
EvalModel load_eval_model(const StageContext& ctx, const EvalGridConfig& grid,
                          const std::string& section);

// Names, sizes and times of the gate files, so that retrained gates re-run the gate cells.
std::string gates_identity(const StageContext& ctx, const std::string& gates);

// A file-name-safe cell id from a label and a suffix: "gate tau=0.002", "len4096" ->
// "gate_tau-0.002_len4096" (an empty suffix adds nothing).
std::string eval_cell_id(const std::string& label, const std::string& suffix);

nlohmann::json read_json_file(const std::filesystem::path& path);

// cells/<id>/samples.jsonl, one record per sample, appended and flushed as each finishes, with the
// cell's hash in cells/<id>/cell.json. Opening with another hash starts the cell over; a torn last
// line (killed mid-write) is dropped. Records are keyed by their "key" field. Samples finish in
// any order when several workers run; write_in_order() makes the finished file independent of
// that. Every method may be called from several threads.
class SampleLog {
 public:
  SampleLog(const std::filesystem::path& dir, const std::string& hash);
  std::optional<nlohmann::json> find(const std::string& key) const;
  void append(const nlohmann::json& record);   // record["key"] must be set
  // Rewrites the file atomically: the records of `keys` in that order, then any others (samples
  // of a larger num_samples run earlier, still valid) in key order.
  void write_in_order(const std::vector<std::string>& keys);
  int64_t reused() const { return reused_; }

 private:
  std::filesystem::path path_;
  mutable std::mutex mutex_;
  std::map<std::string, nlohmann::json> records_;
  int64_t reused_ = 0;
};

// The records of one cell in `keys` order. Keys found in `log` are reused; the others are made by
// make(worker, i) for their index i in `keys` on grid.workers threads (run_on_workers: each
// worker uses its own Decoder, e.g. models[worker]), stamped with their key, appended to `log`
// as they finish, and on_done(i) is called after each (one at a time: progress). Once all are
// done the log is rewritten in `keys` order, so the file does not depend on the worker count.
std::vector<nlohmann::json> run_cell_samples(
    SampleLog& log, const std::vector<std::string>& keys, int64_t workers, at::Device device,
    const std::function<nlohmann::json(int64_t worker, size_t i)>& make,
    const std::function<void(size_t i)>& on_done);

// The same with the samples still to run shared out over the ranks of `world`
// (experiments/sharded_items.h; `shared_as` names the cell there, unique in the run): every rank
// passes the same `keys` and runs the samples it gets on its own `workers`; rank 0 passes the
// cell's log, takes every record into it as it comes in (on_done runs there only) and gets the
// records back in `keys` order, so the files depend on neither the worker nor the process count.
// The other ranks pass no log and get an empty vector.
std::vector<nlohmann::json> run_cell_samples(
    const core::dist::World& world, const std::string& shared_as, SampleLog* log,
    const std::vector<std::string>& keys, int64_t workers, at::Device device,
    const std::function<nlohmann::json(int64_t worker, size_t i)>& make,
    const std::function<void(size_t i)>& on_done);

}  // namespace seer::experiments
