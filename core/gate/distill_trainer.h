// Gate distillation loop (DESIGN.md §3, issue 6 §3): only the gates train; the frozen LLM's part
// arrives as DistillBatches (pooled pre-RoPE Q/K + ground truth G per layer, stacked into groups
// of one shape: core/gate/distill_batch.h), either read from capture files (offline: the LLM never
// runs again) or produced on the fly by running the model (online). Both go through the same loss
// and optimiser code.
//
// A step asks its source for the samples of counters [step * batch, (step + 1) * batch) and runs
// each group as one forward per layer ([B, ...] through AttnGate::log_scores and the loss), one
// backward per group (or per `micro_batch` samples of it). Nothing in the layer loop reads a
// value back to the host: the step's loss, per-layer KL and gradient norm come back in one copy
// after the optimiser step. Batch tensors in pinned host memory reach a GPU by non-blocking copies.
//   SmolLM2's gates (30 layers), 2k windows, batch 16, one CPU thread: 1.25 steps per
//   CPU-second one sample at a time, 1.88 batched; operator calls per step fall from 277k to 23k,
//   which is what sets the time on a GPU, where ops of these sizes are launch-bound
//   (tests/gates/capture_io_bench_test.cpp, "[.distill_step_bench]").
//
// AdamW, linear warm-up then cosine decay, global-norm gradient clipping, seeded sample order,
// one JSONL line of metrics per step, and atomic checkpoints (checkpoints/step_XXXXXX/: gates +
// optimizer state + state.json with step and RNG state, written to a .tmp folder and renamed).
// run() resumes from the highest complete checkpoint and reaches the same final weights as an
// uninterrupted run: what a counter's sample is is a pure function of (seed, sample counter), so
// the checkpointed counter is the RNG state.
//
// Data-parallel (set_world with several ranks): step s's samples are the counters
// [s * batch, (s + 1) * batch) whatever the number of ranks; each rank asks its source for its
// contiguous shard of them, and the gradients and metrics are summed over the ranks
// (core/gate/distill_data_parallel.h), so every step, its loss and the final weights are those of
// one process with the same batch, up to the order of float sums. Rank 0 alone reads and writes
// checkpoints and metrics and hands its starting point to the others; a checkpoint holds the step,
// so a run resumes under any number of ranks.
#pragma once

#include "core/config/config_reader.h"
#include "core/dist/world.h"
#include "core/gate/distill_batch.h"
#include "core/gate/distill_loss.h"
#include "core/gate/gate_set.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace seer::core {

// Defaults: configs/train/distill.yaml; the reference's values: configs/train/reference.yaml;
// each key and why a default differs from the reference: docs/distillation.md.
struct DistillTrainConfig {
  int64_t steps = 500;
  int64_t batch = 16;            // samples per optimiser step (gradient accumulation)
  double lr = 1e-3;
  int64_t warmup_steps = 20;
  int64_t warmup_offset = 1;     // lr * (step + offset) / warmup_steps in warm-up: 1 starts at
                                 // lr / warmup, 0 as transformers (the first step has lr 0)
  double min_lr_ratio = 0.0;     // cosine floor as a fraction of lr
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double grad_clip = 1.0;        // max global grad norm; 0 = off
  double grad_scale = 1.0;       // the step's gradient is grad_scale x the mean over its samples
  double bias_lr_scale = 1.0;    // the distance biases' lr is lr x this (gate.distance_buckets):
                                 // Adam moves a weight by about lr a step, and a bias that has to
                                 // shift logits by whole units needs more than lr x steps
  int64_t seed = 0;
  int64_t checkpoint_every = 100;  // steps; the final step always checkpoints
  int64_t keep_checkpoints = 2;
  std::string device = "cpu";
  bool check_finite = true;      // NaN / Inf in the loss, gradient or a step's captured Q/K/G
                                 // stop the run naming step, layer, sample and capture file
  DistillLossOptions loss;
};

// The `train` section: keys steps, batch, lr, warmup_steps, warmup_offset, min_lr_ratio,
// weight_decay, beta1, beta2, eps, grad_clip, grad_scale, bias_lr_scale, seed, checkpoint_every,
// keep_checkpoints, device, check_finite, loss_scale, drop_first_quarter, loss_reduction,
// layer_reduction, g_dtype, gate_dtype, decision_weight, decision_tau, decision_temperature.
// Every key is required
// (the values live in configs/train/*.yaml only) and unknown keys are errors.
DistillTrainConfig parse_distill_train_config(const config::ConfigReader& r);

// lr of the optimiser step with 0-based index `step`: linear warm-up lr * (step + warmup_offset) /
// warmup_steps for step < warmup_steps, then cosine from lr down to lr * min_lr_ratio, reached at
// step == steps (transformers' get_cosine_schedule_with_warmup with warmup_offset 0 and floor 0).
double distill_lr_at(const DistillTrainConfig& cfg, int64_t step);

// Weight of one sample's loss in the step's gradient: grad_scale / batch.
double distill_sample_weight(const DistillTrainConfig& cfg);

// Index of the sample used as the `counter`-th sample overall: epochs walk a fresh seeded
// permutation of [0, num_samples).
int64_t distill_sample_index(int64_t seed, int64_t counter, int64_t num_samples);

struct DistillStepMetrics {
  int64_t step = 0;              // 1-based, after the update
  double loss = 0;               // as optimised: grad_scale x mean over the step's samples
  std::vector<double> layer_kl;  // unscaled KL per model layer (mean over the step's samples)
  double lr = 0;
  double grad_norm = 0;          // before clipping
  double tokens_per_s = 0;
};

// Loss of one sample (its layers reduced and scaled as opts say) and, optionally, per-layer
// unscaled KL; the one-sample-at-a-time reference of distill_group_loss. With opts.gate_dtype bfloat16 the gates run in bf16 from bf16 casts of their
// float32 weights (the gradient reaches the float32 weights) and log P is taken in float32, as in
// the reference's bf16 training.
at::Tensor distill_sample_loss(const GateSet& gates, const DistillSample& s,
                               const DistillLossOptions& opts, std::vector<double>* layer_kl);

// Losses [B] of a group's samples (each the scaled mean over its layers, as distill_sample_loss),
// from one forward per layer on the gates' device; `layer_kl` (optional) gets the unscaled KL
// [|layers|, B], detached; `inputs_finite` (optional) whether each sample's pooled Q, pooled K
// and G are free of NaN / Inf, bool [|layers|, 3, B]. Never waits for the device.
at::Tensor distill_group_loss(const GateSet& gates, const DistillGroup& group,
                              const DistillLossOptions& opts, at::Tensor* layer_kl = nullptr,
                              at::Tensor* inputs_finite = nullptr);

class DistillTrainer {
 public:
  // The samples of counters [first_counter, first_counter + count), exactly `count` of them (this
  // rank's shard of a step).
  using BatchSource = std::function<DistillBatch(int64_t first_counter, int64_t count)>;
  // Sample `index` of a fixed set of `num_samples`.
  using SampleSource = std::function<DistillSample(int64_t index)>;
  using StepCallback = std::function<void(const DistillStepMetrics&)>;

  // `gates` is trained in place (moved to cfg.device, float32). `out_dir` receives metrics.jsonl
  // and checkpoints/.
  DistillTrainer(GateSet& gates, BatchSource source, DistillTrainConfig cfg,
                 std::filesystem::path out_dir);
  // A fixed set: counter c reads sample distill_sample_index(seed, c, num_samples); a step's
  // samples are grouped by group_distill_samples (pinned when training on CUDA).
  DistillTrainer(GateSet& gates, SampleSource source, int64_t num_samples, DistillTrainConfig cfg,
                 std::filesystem::path out_dir);

  // At most this many samples per forward/backward (splits larger groups; bounds the memory of
  // long sequences); 0 = a whole group at once.
  void set_micro_batch(int64_t samples) { micro_batch_ = samples; }

  // Trains as one rank of `world` (kept by reference): its source gives this rank's shard of each
  // step, and only rank 0 writes to out_dir.
  void set_world(const dist::World& world) { world_ = &world; }

  void on_step(StepCallback cb) { on_step_ = std::move(cb); }
  // Trains until cfg.steps (resuming from a checkpoint when present); returns the last metrics.
  DistillStepMetrics run();
  // The step run() would start from (0 when no checkpoint exists); read from out_dir, so rank 0's.
  int64_t resume_step() const;
  // For tests: stop (as if killed) after this many steps of this call; 0 = never.
  void stop_after(int64_t steps) { stop_after_ = steps; }

 private:
  GateSet& gates_;
  BatchSource source_;
  DistillTrainConfig cfg_;
  std::filesystem::path out_dir_;
  StepCallback on_step_;
  int64_t stop_after_ = 0;
  int64_t micro_batch_ = 0;
  const dist::World* world_ = &dist::World::single();
};

}  // namespace seer::core
