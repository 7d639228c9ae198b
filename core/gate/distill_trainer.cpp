#include "core/gate/distill_trainer.h"

#include "core/gate/distill_data_parallel.h"
#include "core/gate/gate_file.h"
#include "core/io/atomic_file.h"
#include "core/io/remove_tree.h"
#include "core/model/finite_guard.h"

#include <torch/torch.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace seer::core {
namespace {

fs::path checkpoint_root(const fs::path& out) { return out / "checkpoints"; }

// Complete checkpoints (renamed into place, state.json present), ascending by step.
std::vector<std::pair<int64_t, fs::path>> complete_checkpoints(const fs::path& out) {
  std::vector<std::pair<int64_t, fs::path>> found;
  const fs::path root = checkpoint_root(out);
  if (!fs::exists(root)) return found;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name.rfind("step_", 0) != 0 || name.find(".tmp") != std::string::npos)
      continue;
    if (!fs::exists(e.path() / "state.json")) continue;
    found.emplace_back(std::stoll(name.substr(5)), e.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Removes a checkpoint so that it stops counting as complete before anything else goes
// (state.json first): a kill while pruning never leaves a checkpoint that looks whole.
void remove_checkpoint(const fs::path& dir) {
  fs::remove(dir / "state.json");
  io::remove_tree(dir);
}

// What killed runs left in checkpoints/ and nothing reads: folders never renamed into place
// (step_N.tmp) and checkpoints pruned halfway (no state.json).
void remove_incomplete_checkpoints(const fs::path& out) {
  const fs::path root = checkpoint_root(out);
  if (!fs::exists(root)) return;
  std::vector<fs::path> leftovers;
  for (const auto& e : fs::directory_iterator(root)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name.rfind("step_", 0) == 0 &&
        (name.find(".tmp") != std::string::npos || !fs::exists(e.path() / "state.json")))
      leftovers.push_back(e.path());
  }
  for (const auto& dir : leftovers) io::remove_tree(dir);
}

// Keeps metrics lines of steps <= `step` (a resumed run rewrites the rest).
void truncate_metrics(const fs::path& file, int64_t step) {
  if (!fs::exists(file)) return;
  std::ifstream in(file);
  std::ostringstream kept;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      if (nlohmann::json::parse(line).value("step", int64_t{0}) <= step) kept << line << "\n";
    } catch (const nlohmann::json::exception&) {
      // a torn last line from a kill: drop it
    }
  }
  io::write_file_atomic(file, kept.str());
}

// Loads the newest complete checkpoint of `out` into `params` and `opt`; returns its step (0 when
// there is none).
int64_t load_latest_checkpoint(const fs::path& out, int64_t seed,
                               std::vector<torch::Tensor>& params, torch::optim::AdamW& opt) {
  auto found = complete_checkpoints(out);
  if (found.empty()) return 0;
  const fs::path dir = found.back().second;
  const auto state = nlohmann::json::parse(io::read_file(dir / "state.json"));
  TORCH_CHECK(state.value("seed", int64_t{-1}) == seed, "distill: checkpoint ", dir.string(),
              " was made with seed ", state.value("seed", int64_t{-1}), ", this run has seed ",
              seed);
  GateSet saved = load_gates(dir / "gates");
  auto saved_params = saved.parameters();
  TORCH_CHECK(saved_params.size() == params.size(), "distill: checkpoint ", dir.string(), " has ",
              saved_params.size(), " gate tensors, the gates have ", params.size());
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved_params[i]);
  }
  torch::load(opt, (dir / "optimizer.pt").string());
  return state.at("step").get<int64_t>();
}

// checkpoints/step_XXXXXX/ (written as .tmp, then renamed), keeping the newest keep_checkpoints.
// `processes` is informational: the sample counter fixes what comes next under any number.
void write_checkpoint(const fs::path& out, int64_t step, double lr, int processes,
                      const GateSet& gates, const torch::optim::AdamW& opt,
                      const DistillTrainConfig& cfg) {
  const fs::path root = checkpoint_root(out);
  const std::string name = fmt::format("step_{:06d}", step);
  const fs::path tmp = root / (name + ".tmp"), final_dir = root / name;
  io::remove_tree(tmp);
  fs::create_directories(tmp);
  save_gates(gates, tmp / "gates");
  // Serialised in memory: torch's file writer finishes the archive in a destructor, and a refused
  // write (a full disk) there ends the process instead of throwing.
  std::ostringstream optimizer_state;
  torch::save(opt, optimizer_state);
  io::write_file_atomic(tmp / "optimizer.pt", optimizer_state.str());
  nlohmann::json state = {{"step", step}, {"seed", cfg.seed}, {"sample_counter", step * cfg.batch},
                          {"lr", lr}, {"processes", processes}};
  io::write_file_atomic(tmp / "state.json", state.dump(2) + "\n");
  remove_checkpoint(final_dir);
  fs::rename(tmp, final_dir);
  auto all = complete_checkpoints(out);
  for (size_t i = 0; i + cfg.keep_checkpoints < all.size(); ++i) remove_checkpoint(all[i].second);
}

// Group 0 holds the projection weights, group 1 (when the gates have them) the distance biases.
void set_lr(torch::optim::AdamW& opt, double lr, double bias_lr_scale) {
  auto& groups = opt.param_groups();
  for (size_t i = 0; i < groups.size(); ++i)
    static_cast<torch::optim::AdamWOptions&>(groups[i].options()).lr(i == 0 ? lr : lr * bias_lr_scale);
}

torch::optim::AdamW make_optimizer(const GateSet& gates, const DistillTrainConfig& cfg) {
  std::vector<torch::Tensor> weights, biases;
  for (const auto& gate : gates.layers) {
    if (!gate.identity_q()) weights.push_back(gate.wq());
    weights.push_back(gate.wk());
    if (gate.distance_bias().defined()) biases.push_back(gate.distance_bias());
  }
  const auto options = torch::optim::AdamWOptions(cfg.lr)
                           .betas({cfg.beta1, cfg.beta2})
                           .eps(cfg.eps)
                           .weight_decay(cfg.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(weights);
  if (!biases.empty())
    groups.emplace_back(biases, std::make_unique<torch::optim::AdamWOptions>(
                                    torch::optim::AdamWOptions(options).lr(cfg.lr * cfg.bias_lr_scale)));
  return torch::optim::AdamW(std::move(groups), options);
}

// Gate log-scores as the loss options ask: with gate_dtype bfloat16 the gate runs on bf16 casts of
// its float32 weights (the gradient reaches the float32 weights) and the log-softmax is taken in
// float32, as in the reference's bf16 training.
at::Tensor gate_log_scores(const AttnGate& gate, const at::Tensor& q, const at::Tensor& k,
                           const DistillLossOptions& opts) {
  if (opts.gate_dtype == "bfloat16")
    return at::log_softmax(gate.logits_in(at::kBFloat16, q, k).to(at::kFloat), -1);
  return gate.log_scores(q, k);
}

// What locates a non-finite value in a step: one forward/backward piece of a group, whose KL
// [|layers|, count] and input flags [|layers|, 3, count] come back with the step's metrics.
struct PieceCheck {
  const DistillGroup* group;
  int64_t first = 0;
  int64_t count = 0;
};

// The first sample of this process's shard with a non-finite captured input (in step order),
// else the first with a non-finite KL on finite inputs: "sample seq_00004 of capture/part_000.h5,
// layer 1: its captured G holds NaN or Inf". Empty when neither is here. `values` holds each
// piece's KL then its input flags (1 = finite), flattened, one piece after another.
std::string first_nonfinite_sample(const std::vector<PieceCheck>& pieces, const double* values) {
  static const char* const kInputs[] = {"pooled Q", "pooled K", "G"};
  auto sample = [](const PieceCheck& p, int64_t b) {
    const DistillGroup& g = *p.group;
    const size_t s = static_cast<size_t>(p.first + b);
    return g.files.empty() ? fmt::format("sample {}", g.ids[s])
                           : fmt::format("sample {} of {}", g.ids[s], g.files[s]);
  };
  const double* v = values;
  std::string kl_culprit;
  for (const auto& p : pieces) {
    const int64_t layers = static_cast<int64_t>(p.group->layers.size()), B = p.count;
    const double* kl = v;
    const double* finite = v + layers * B;
    v += layers * B * 4;
    for (int64_t l = 0; l < layers; ++l)
      for (int64_t t = 0; t < 3; ++t)
        for (int64_t b = 0; b < B; ++b)
          if (finite[(l * 3 + t) * B + b] == 0.0)
            return fmt::format("{}, layer {}: its captured {} holds NaN or Inf", sample(p, b),
                               p.group->layers[static_cast<size_t>(l)], kInputs[t]);
    for (int64_t l = 0; l < layers && kl_culprit.empty(); ++l)
      for (int64_t b = 0; b < B; ++b)
        if (!std::isfinite(kl[l * B + b])) {
          kl_culprit = fmt::format("{}, layer {}: KL {} from finite captured inputs (the gate's "
                                   "scores or the loss overflowed)", sample(p, b),
                                   p.group->layers[static_cast<size_t>(l)], kl[l * B + b]);
          break;
        }
  }
  return kl_culprit;
}

// "distill: step 7: loss nan, gradient norm nan; first non-finite layer: 3 (value nan);
// sample s4 of capture/part_000.h5, layer 3: its captured G holds NaN or Inf; samples of the
// step: s1, s4 ..."
std::string nonfinite_step_message(int64_t step, double loss, double grad_norm,
                                   const std::vector<double>& layer_values,
                                   const std::string& culprit, const DistillBatch& batch,
                                   const fs::path& out_dir) {
  std::string layer = "none";
  for (size_t l = 0; l < layer_values.size(); ++l)
    if (!std::isfinite(layer_values[l])) {
      layer = fmt::format("{} (value {})", l, layer_values[l]);
      break;
    }
  std::string where = culprit;
  if (where.empty())
    where = std::isfinite(loss) && std::isfinite(grad_norm)
                ? "the non-finite sample is in another process's shard"
                : "no sample of this process is non-finite (the gradient alone)";
  std::vector<std::string> ids;
  for (const auto& g : batch.groups) ids.insert(ids.end(), g.ids.begin(), g.ids.end());
  return fmt::format("distill: step {}: loss {}, gradient norm {}; first non-finite layer: {}; "
                     "{}; samples of the step: {}. Nothing of this step was saved; the "
                     "checkpoints in {} are from before it. Check those samples (their G and "
                     "pooled Q/K) and the learning rate, or set train.check_finite: false to "
                     "train on regardless.", step, loss, grad_norm, layer, where,
                     fmt::join(ids, ", "), checkpoint_root(out_dir).string());
}

// Every `train` key is required: the defaults live in configs/train/*.yaml only, so a missing key
// is an error that says where they are, never a value from C++.
struct RequiredTrainKeys {
  const config::ConfigReader& r;
  void check(const std::string& key) const {
    if (!r.has(key))
      r.fail(key, "missing; every train key has its value in configs/train/distill.yaml (our "
                  "defaults) or configs/train/reference.yaml (the reference's): compose one of "
                  "them (defaults: [train: distill]) or set the key");
  }
  template <typename T>
  T get(const std::string& key) const {
    check(key);
    return r.get<T>(key);
  }
  std::string choice(const std::string& key, const std::vector<std::string>& options) const {
    check(key);
    return r.get_choice(key, options);
  }
};

}  // namespace

DistillTrainConfig parse_distill_train_config(const config::ConfigReader& r) {
  DistillTrainConfig c;
  const RequiredTrainKeys need{r};
  c.steps = need.get<int64_t>("steps");
  if (c.steps < 1) r.fail("steps", "expected >= 1");
  c.batch = need.get<int64_t>("batch");
  if (c.batch < 1) r.fail("batch", "expected >= 1");
  c.lr = need.get<double>("lr");
  if (!(c.lr > 0)) r.fail("lr", "expected > 0");
  c.warmup_steps = need.get<int64_t>("warmup_steps");
  if (c.warmup_steps < 0) r.fail("warmup_steps", "expected >= 0");
  c.warmup_offset = need.get<int64_t>("warmup_offset");
  if (c.warmup_offset != 0 && c.warmup_offset != 1)
    r.fail("warmup_offset", "expected 0 (transformers: the first step has lr 0) or 1");
  c.min_lr_ratio = need.get<double>("min_lr_ratio");
  if (c.min_lr_ratio < 0 || c.min_lr_ratio > 1) r.fail("min_lr_ratio", "expected in [0, 1]");
  c.weight_decay = need.get<double>("weight_decay");
  if (c.weight_decay < 0) r.fail("weight_decay", "expected >= 0");
  c.beta1 = need.get<double>("beta1");
  if (!(c.beta1 >= 0 && c.beta1 < 1)) r.fail("beta1", "expected in [0, 1)");
  c.beta2 = need.get<double>("beta2");
  if (!(c.beta2 >= 0 && c.beta2 < 1)) r.fail("beta2", "expected in [0, 1)");
  c.eps = need.get<double>("eps");
  if (!(c.eps > 0)) r.fail("eps", "expected > 0");
  c.grad_clip = need.get<double>("grad_clip");
  if (!(c.grad_clip >= 0)) r.fail("grad_clip", "expected >= 0 (0 = off)");
  c.grad_scale = need.get<double>("grad_scale");
  if (!(c.grad_scale > 0)) r.fail("grad_scale", "expected > 0");
  c.bias_lr_scale = need.get<double>("bias_lr_scale");
  if (!(c.bias_lr_scale > 0)) r.fail("bias_lr_scale", "expected > 0");
  c.seed = need.get<int64_t>("seed");
  c.checkpoint_every = need.get<int64_t>("checkpoint_every");
  if (c.checkpoint_every < 1) r.fail("checkpoint_every", "expected >= 1");
  c.keep_checkpoints = need.get<int64_t>("keep_checkpoints");
  if (c.keep_checkpoints < 1) r.fail("keep_checkpoints", "expected >= 1");
  c.device = need.get<std::string>("device");
  c.check_finite = need.get<bool>("check_finite");
  c.loss.scale = need.get<double>("loss_scale");
  if (!(c.loss.scale > 0)) r.fail("loss_scale", "expected > 0");
  c.loss.drop_first_quarter = need.get<bool>("drop_first_quarter");
  c.loss.reduction = need.choice("loss_reduction", {"row_mean", "element_mean"});
  c.loss.layer_reduction = need.choice("layer_reduction", {"mean", "sum"});
  c.loss.g_dtype = need.choice("g_dtype", {"float32", "bfloat16"});
  c.loss.gate_dtype = need.choice("gate_dtype", {"float32", "bfloat16"});
  c.loss.decision_weight = need.get<double>("decision_weight");
  if (!(c.loss.decision_weight >= 0)) r.fail("decision_weight", "expected >= 0 (0 = KL only)");
  c.loss.decision_tau = need.get<std::vector<double>>("decision_tau");
  for (double t : c.loss.decision_tau)
    if (!(t > 0 && t < 1)) r.fail("decision_tau", fmt::format("{} is not a threshold in (0, 1)", t));
  if (c.loss.decision_weight > 0 && c.loss.decision_tau.empty())
    r.fail("decision_tau", "expected at least one threshold when decision_weight > 0");
  c.loss.decision_temperature = need.get<double>("decision_temperature");
  if (!(c.loss.decision_temperature > 0)) r.fail("decision_temperature", "expected > 0");
  r.finish();
  return c;
}

double distill_lr_at(const DistillTrainConfig& cfg, int64_t step) {
  if (step < cfg.warmup_steps)
    return cfg.lr * static_cast<double>(step + cfg.warmup_offset) /
           static_cast<double>(cfg.warmup_steps);
  const int64_t decay = std::max<int64_t>(1, cfg.steps - cfg.warmup_steps);
  const double p = std::min(1.0, static_cast<double>(step - cfg.warmup_steps) / decay);
  const double floor = cfg.lr * cfg.min_lr_ratio;
  return floor + (cfg.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * p));
}

double distill_sample_weight(const DistillTrainConfig& cfg) {
  return cfg.grad_scale / static_cast<double>(cfg.batch);
}

int64_t distill_sample_index(int64_t seed, int64_t counter, int64_t num_samples) {
  const int64_t epoch = counter / num_samples;
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(seed) * 7919ULL +
                                            static_cast<uint64_t>(epoch));
  auto perm = at::randperm(num_samples, gen, at::TensorOptions().dtype(at::kLong));
  return perm[counter % num_samples].item<int64_t>();
}

at::Tensor distill_sample_loss(const GateSet& gates, const DistillSample& s,
                               const DistillLossOptions& opts, std::vector<double>* layer_kl) {
  TORCH_CHECK(!s.layers.empty(), "distill: sample '", s.id, "' has no layers");
  std::vector<at::Tensor> log_p, g;
  const int64_t D = gates.shape.head_dim;
  const auto device = gates.layers.at(0).wk().device();
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const int64_t l = s.layers[i];
    TORCH_CHECK(l >= 0 && l < gates.num_layers(), "distill: sample '", s.id, "' has layer ", l,
                " but the gates have ", gates.num_layers());
    const AttnGate& gate = gates.layers[l];
    auto q = select_pools(s.q_pooled[i].to(device), D, s.q_kinds, gate.config().q_pools).unsqueeze(0);
    auto k = select_pools(s.k_pooled[i].to(device), D, s.k_kinds, gate.config().k_pools).unsqueeze(0);
    auto lp = gate_log_scores(gate, q, k, opts);  // [1, Hq, nb, nb]
    if (!s.heads.empty())
      lp = lp.index_select(1, at::tensor(s.heads, at::TensorOptions().dtype(at::kLong)).to(device));
    log_p.push_back(lp);
    g.push_back(s.g[i].to(device).unsqueeze(0));
  }
  if (layer_kl) {
    layer_kl->clear();
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < log_p.size(); ++i)
      layer_kl->push_back(distill_layer_kl(log_p[i], g[i], opts).item<double>());
  }
  return distill_loss(log_p, g, opts);
}

at::Tensor distill_group_loss(const GateSet& gates, const DistillGroup& group,
                              const DistillLossOptions& opts, at::Tensor* layer_kl,
                              at::Tensor* inputs_finite) {
  TORCH_CHECK(!group.layers.empty() && group.size() > 0, "distill: empty sample group");
  const int64_t D = gates.shape.head_dim;
  const auto device = gates.layers.at(0).wk().device();
  // Host tensors in pinned memory go over without blocking the host; the gate and the loss cast
  // float16 inputs on the device.
  auto to_device = [&](const at::Tensor& t) {
    return t.to(t.options().device(device), /*non_blocking=*/true);
  };
  at::Tensor heads;
  if (!group.heads.empty())
    heads = at::tensor(group.heads, at::TensorOptions().dtype(at::kLong)).to(device);
  std::vector<at::Tensor> kl, finite;
  for (size_t i = 0; i < group.layers.size(); ++i) {
    const int64_t l = group.layers[i];
    TORCH_CHECK(l >= 0 && l < gates.num_layers(), "distill: sample '", group.ids.front(),
                "' has layer ", l, " but the gates have ", gates.num_layers());
    const AttnGate& gate = gates.layers[l];
    const at::Tensor q_in = to_device(group.q_pooled[i]), k_in = to_device(group.k_pooled[i]);
    const at::Tensor g_in = to_device(group.g[i]);
    if (inputs_finite)
      finite.push_back(at::stack({finite_along(q_in, 0), finite_along(k_in, 0),
                                  finite_along(g_in, 0)}));   // [3, B]
    auto q = select_pools(q_in, D, group.q_kinds, gate.config().q_pools);
    auto k = select_pools(k_in, D, group.k_kinds, gate.config().k_pools);
    auto lp = gate_log_scores(gate, q, k, opts);  // [B, Hq, nb, nb]
    if (heads.defined()) lp = lp.index_select(1, heads);
    kl.push_back(distill_layer_kl_each(lp, g_in, opts));  // [B]
  }
  if (layer_kl) *layer_kl = at::stack(kl).detach();
  if (inputs_finite) *inputs_finite = at::stack(finite);
  return distill_loss_each(kl, opts);
}

DistillTrainer::DistillTrainer(GateSet& gates, BatchSource source, DistillTrainConfig cfg,
                               fs::path out_dir)
    : gates_(gates), source_(std::move(source)), cfg_(std::move(cfg)),
      out_dir_(std::move(out_dir)) {}

DistillTrainer::DistillTrainer(GateSet& gates, SampleSource source, int64_t num_samples,
                               DistillTrainConfig cfg, fs::path out_dir)
    : gates_(gates), cfg_(std::move(cfg)), out_dir_(std::move(out_dir)) {
  TORCH_CHECK(num_samples > 0, "distill: no training samples");
  const bool pin = torch::Device(cfg_.device).is_cuda();
  const int64_t seed = cfg_.seed;
  source_ = [source = std::move(source), num_samples, pin, seed](int64_t first, int64_t count) {
    std::vector<DistillSample> samples;
    for (int64_t c = first; c < first + count; ++c)
      samples.push_back(source(distill_sample_index(seed, c, num_samples)));
    return group_distill_samples(samples, pin);
  };
}

int64_t DistillTrainer::resume_step() const {
  auto found = complete_checkpoints(out_dir_);
  return found.empty() ? 0 : found.back().first;
}

DistillStepMetrics DistillTrainer::run() {
  const dist::World& world = *world_;
  const bool writes = world.is_main();   // checkpoints and metrics: rank 0's alone
  if (world.size() > cfg_.batch)
    throw std::runtime_error(fmt::format(
        "distill: train.batch = {} is smaller than the {} processes: each needs at least one "
        "sample of a step (raise train.batch or start fewer processes)", cfg_.batch, world.size()));
  if (writes) fs::create_directories(out_dir_);
  const torch::Device device(cfg_.device);
  gates_.to(device, at::kFloat);
  gates_.set_requires_grad(true);
  std::vector<torch::Tensor> params = gates_.parameters();
  torch::optim::AdamW opt = make_optimizer(gates_, cfg_);
  const fs::path metrics_path = out_dir_ / "metrics.jsonl";
  // A checkpoint a kill cut short (no state.json) is never loaded, and goes.
  if (writes) remove_incomplete_checkpoints(out_dir_);
  int64_t step = writes ? load_latest_checkpoint(out_dir_, cfg_.seed, params, opt) : 0;
  step = share_training_start(world, step, params, opt);
  std::ofstream metrics;
  if (writes) {
    if (step > 0) {
      truncate_metrics(metrics_path, step);
    } else if (fs::exists(metrics_path)) {
      fs::remove(metrics_path);
    }
    metrics.open(metrics_path, std::ios::app);
  }

  const dist::Shard shard = dist::shard_of(cfg_.batch, world.rank(), world.size());
  const int64_t L = gates_.num_layers();
  DistillStepMetrics last;
  int64_t done_this_call = 0;
  const auto fopts = at::TensorOptions().dtype(at::kFloat).device(device);
  const auto lopts = at::TensorOptions().dtype(at::kLong).device(device);
  while (step < cfg_.steps) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = distill_lr_at(cfg_, step);
    set_lr(opt, lr, cfg_.bias_lr_scale);
    opt.zero_grad();
    const DistillBatch batch = source_(step * cfg_.batch + shard.begin, shard.size());
    TORCH_CHECK(batch.num_samples() == shard.size(), "distill: the sample source gave ",
                batch.num_samples(), " samples for a step of ", shard.size());
    // Device-side sums, [loss, tokens, KL of each layer, non-finite captured inputs], summed over
    // the ranks (so that every rank stops at the same step) and read back once, after the update.
    at::Tensor stats = at::zeros({3 + L}, fopts);
    at::Tensor loss_sum = stats.narrow(0, 0, 1);
    at::Tensor layer_kl = stats.narrow(0, 2, L);
    at::Tensor bad_inputs = stats.narrow(0, 2 + L, 1);
    stats[1] = static_cast<double>(batch.tokens());
    // check_finite: each piece's per-sample KL and input flags, read back with the sums (a few
    // numbers per sample and layer) to name the sample only when the step is non-finite.
    std::vector<PieceCheck> pieces;
    std::vector<at::Tensor> piece_values;
    for (const auto& group : batch.groups) {
      const int64_t part = micro_batch_ > 0 ? micro_batch_ : group.size();
      for (int64_t first = 0; first < group.size(); first += part) {
        const DistillGroup piece = group.slice(first, std::min(part, group.size() - first));
        at::Tensor kl, finite;
        auto loss = distill_group_loss(gates_, piece, cfg_.loss, &kl,
                                       cfg_.check_finite ? &finite : nullptr).sum() *
                    distill_sample_weight(cfg_);
        loss.backward();
        loss_sum += loss.detach();
        layer_kl.index_add_(0, at::tensor(group.layers, lopts),
                            kl.sum(1).to(at::kFloat) / static_cast<double>(cfg_.batch));
        if (cfg_.check_finite) {
          bad_inputs += at::logical_not(finite).sum().to(at::kFloat);
          pieces.push_back({&group, first, piece.size()});
          piece_values.push_back(kl.to(at::kFloat).flatten());
          piece_values.push_back(finite.to(at::kFloat).flatten());
        }
      }
    }
    sum_step_over_ranks(world, params, stats);
    std::vector<at::Tensor> norms;
    for (const auto& p : params)
      if (p.grad().defined()) norms.push_back(p.grad().norm());
    at::Tensor grad_norm = norms.empty() ? at::zeros({}, fopts) : at::stack(norms).norm();
    if (cfg_.grad_clip > 0) {
      // clip_grad_norm_ without its host read: scale by min(1, max_norm / (norm + 1e-6)).
      auto coef = (cfg_.grad_clip / (grad_norm + 1e-6)).clamp_max(1.0);
      for (auto& p : params)
        if (p.grad().defined()) p.grad().mul_(coef);
    }
    opt.step();
    std::vector<at::Tensor> readback = {stats, grad_norm.view({1})};
    readback.insert(readback.end(), piece_values.begin(), piece_values.end());
    const at::Tensor host = at::cat(readback).to(at::kCPU, at::kDouble);
    const double* h = host.data_ptr<double>();
    const double loss = h[0], tokens = h[1], bad = h[2 + L], norm = h[3 + L];
    const std::vector<double> kl_sum(h + 2, h + 2 + L);
    // The values are on the host already: the check costs nothing. Stopping here keeps the last
    // checkpoint, written before this step, intact (every rank sees the same sums and stops).
    if (cfg_.check_finite && (!std::isfinite(loss) || !std::isfinite(norm) || bad != 0.0))
      throw std::runtime_error(nonfinite_step_message(
          step + 1, loss, norm, kl_sum, first_nonfinite_sample(pieces, h + 4 + L), batch,
          out_dir_));
    ++step;
    ++done_this_call;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    last = {step, loss, kl_sum, lr, norm, secs > 0 ? tokens / secs : 0.0};
    if (writes) {
      nlohmann::json line = {{"step", step}, {"loss", last.loss},  {"lr", lr},
                             {"grad_norm", last.grad_norm}, {"layer_kl", kl_sum},
                             {"tokens_per_s", last.tokens_per_s}};
      metrics << line.dump() << "\n";
      metrics.flush();
      if (!metrics) throw io::write_error(metrics_path, errno);
    }
    if (on_step_) on_step_(last);
    if (writes && (step % cfg_.checkpoint_every == 0 || step == cfg_.steps))
      write_checkpoint(out_dir_, step, lr, world.size(), gates_, opt, cfg_);
    if (stop_after_ > 0 && done_this_call >= stop_after_) break;
  }
  gates_.set_requires_grad(false);
  return last;
}

}  // namespace seer::core
