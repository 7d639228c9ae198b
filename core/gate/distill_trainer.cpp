#include "core/gate/distill_trainer.h"

#include "core/gate/capture_hook.h"
#include "core/gate/gate_file.h"
#include "core/io/atomic_file.h"

#include <torch/torch.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

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

void set_lr(torch::optim::AdamW& opt, double lr) {
  for (auto& group : opt.param_groups())
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

}  // namespace

DistillTrainConfig parse_distill_train_config(const config::ConfigReader& r) {
  DistillTrainConfig c;
  c.steps = r.get<int64_t>("steps", c.steps);
  if (c.steps < 1) r.fail("steps", "expected >= 1");
  c.batch = r.get<int64_t>("batch", c.batch);
  if (c.batch < 1) r.fail("batch", "expected >= 1");
  c.lr = r.get<double>("lr", c.lr);
  if (!(c.lr > 0)) r.fail("lr", "expected > 0");
  c.warmup_steps = r.get<int64_t>("warmup_steps", c.warmup_steps);
  if (c.warmup_steps < 0) r.fail("warmup_steps", "expected >= 0");
  c.warmup_offset = r.get<int64_t>("warmup_offset", c.warmup_offset);
  if (c.warmup_offset != 0 && c.warmup_offset != 1)
    r.fail("warmup_offset", "expected 0 (transformers: the first step has lr 0) or 1");
  c.min_lr_ratio = r.get<double>("min_lr_ratio", c.min_lr_ratio);
  if (c.min_lr_ratio < 0 || c.min_lr_ratio > 1) r.fail("min_lr_ratio", "expected in [0, 1]");
  c.weight_decay = r.get<double>("weight_decay", c.weight_decay);
  if (c.weight_decay < 0) r.fail("weight_decay", "expected >= 0");
  c.beta1 = r.get<double>("beta1", c.beta1);
  if (!(c.beta1 >= 0 && c.beta1 < 1)) r.fail("beta1", "expected in [0, 1)");
  c.beta2 = r.get<double>("beta2", c.beta2);
  if (!(c.beta2 >= 0 && c.beta2 < 1)) r.fail("beta2", "expected in [0, 1)");
  c.eps = r.get<double>("eps", c.eps);
  if (!(c.eps > 0)) r.fail("eps", "expected > 0");
  c.grad_clip = r.get<double>("grad_clip", c.grad_clip);
  if (!(c.grad_clip >= 0)) r.fail("grad_clip", "expected >= 0 (0 = off)");
  c.grad_scale = r.get<double>("grad_scale", c.grad_scale);
  if (!(c.grad_scale > 0)) r.fail("grad_scale", "expected > 0");
  c.seed = r.get<int64_t>("seed", c.seed);
  c.checkpoint_every = r.get<int64_t>("checkpoint_every", c.checkpoint_every);
  if (c.checkpoint_every < 1) r.fail("checkpoint_every", "expected >= 1");
  c.keep_checkpoints = r.get<int64_t>("keep_checkpoints", c.keep_checkpoints);
  if (c.keep_checkpoints < 1) r.fail("keep_checkpoints", "expected >= 1");
  c.device = r.get<std::string>("device", c.device);
  c.loss.scale = r.get<double>("loss_scale", c.loss.scale);
  if (!(c.loss.scale > 0)) r.fail("loss_scale", "expected > 0");
  c.loss.drop_first_quarter = r.get<bool>("drop_first_quarter", c.loss.drop_first_quarter);
  c.loss.reduction = r.get_choice("loss_reduction", {"row_mean", "element_mean"}, c.loss.reduction);
  c.loss.layer_reduction = r.get_choice("layer_reduction", {"mean", "sum"}, c.loss.layer_reduction);
  c.loss.g_dtype = r.get_choice("g_dtype", {"float32", "bfloat16"}, c.loss.g_dtype);
  c.loss.gate_dtype = r.get_choice("gate_dtype", {"float32", "bfloat16"}, c.loss.gate_dtype);
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
    auto q = pooled_subset(s.q_pooled[i].to(device), D, gate.config().q_pools).unsqueeze(0);
    auto k = pooled_subset(s.k_pooled[i].to(device), D, gate.config().k_pools).unsqueeze(0);
    // [1, Hq, nb, nb]; bf16 logits are taken to float32 before log-softmax, as the reference does
    auto lp = opts.gate_dtype == "bfloat16"
                  ? at::log_softmax(gate.logits_in(at::kBFloat16, q, k).to(at::kFloat), -1)
                  : gate.log_scores(q, k);
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

DistillTrainer::DistillTrainer(GateSet& gates, SampleSource source, int64_t num_samples,
                               DistillTrainConfig cfg, fs::path out_dir)
    : gates_(gates), source_(std::move(source)), num_samples_(num_samples), cfg_(std::move(cfg)),
      out_dir_(std::move(out_dir)) {
  TORCH_CHECK(num_samples_ > 0, "distill: no training samples");
}

int64_t DistillTrainer::resume_step() const {
  auto found = complete_checkpoints(out_dir_);
  return found.empty() ? 0 : found.back().first;
}

DistillStepMetrics DistillTrainer::run() {
  fs::create_directories(out_dir_);
  const torch::Device device(cfg_.device);
  gates_.to(device, at::kFloat);
  gates_.set_requires_grad(true);
  std::vector<torch::Tensor> params = gates_.parameters();
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(cfg_.lr)
                                      .betas({cfg_.beta1, cfg_.beta2})
                                      .eps(cfg_.eps)
                                      .weight_decay(cfg_.weight_decay));
  int64_t step = 0;
  const fs::path metrics_path = out_dir_ / "metrics.jsonl";
  auto found = complete_checkpoints(out_dir_);
  if (!found.empty()) {
    const fs::path dir = found.back().second;
    const auto state = nlohmann::json::parse(io::read_file(dir / "state.json"));
    step = state.at("step").get<int64_t>();
    TORCH_CHECK(state.value("seed", int64_t{-1}) == cfg_.seed, "distill: checkpoint ",
                dir.string(), " was made with seed ", state.value("seed", int64_t{-1}),
                ", this run has seed ", cfg_.seed);
    GateSet saved = load_gates(dir / "gates");
    auto saved_params = saved.parameters();
    TORCH_CHECK(saved_params.size() == params.size(), "distill: checkpoint ", dir.string(),
                " has ", saved_params.size(), " gate tensors, the gates have ", params.size());
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < params.size(); ++i) params[i].copy_(saved_params[i]);
    }
    torch::load(opt, (dir / "optimizer.pt").string());
    truncate_metrics(metrics_path, step);
  } else if (fs::exists(metrics_path)) {
    fs::remove(metrics_path);
  }

  std::ofstream metrics(metrics_path, std::ios::app);
  DistillStepMetrics last;
  int64_t done_this_call = 0;
  while (step < cfg_.steps) {
    const auto t0 = std::chrono::steady_clock::now();
    const double lr = distill_lr_at(cfg_, step);
    set_lr(opt, lr);
    opt.zero_grad();
    double loss_sum = 0;
    int64_t tokens = 0;
    std::vector<double> kl_sum;
    for (int64_t m = 0; m < cfg_.batch; ++m) {
      const int64_t idx = distill_sample_index(cfg_.seed, step * cfg_.batch + m, num_samples_);
      DistillSample s = source_(idx);
      std::vector<double> kl;
      auto loss = distill_sample_loss(gates_, s, cfg_.loss, &kl) * distill_sample_weight(cfg_);
      loss.backward();
      loss_sum += loss.item<double>();
      tokens += s.tokens;
      if (kl_sum.size() < static_cast<size_t>(gates_.num_layers()))
        kl_sum.assign(gates_.num_layers(), 0.0);
      for (size_t i = 0; i < s.layers.size(); ++i) kl_sum[s.layers[i]] += kl[i] / cfg_.batch;
    }
    double grad_norm = 0;
    if (cfg_.grad_clip > 0) {
      grad_norm = torch::nn::utils::clip_grad_norm_(params, cfg_.grad_clip);
    } else {
      for (const auto& p : params)
        if (p.grad().defined()) grad_norm += p.grad().pow(2).sum().item<double>();
      grad_norm = std::sqrt(grad_norm);
    }
    opt.step();
    ++step;
    ++done_this_call;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    last = {step, loss_sum, kl_sum, lr, grad_norm, secs > 0 ? tokens / secs : 0.0};
    nlohmann::json line = {{"step", step}, {"loss", loss_sum},  {"lr", lr},
                           {"grad_norm", grad_norm}, {"layer_kl", kl_sum},
                           {"tokens_per_s", last.tokens_per_s}};
    metrics << line.dump() << "\n";
    metrics.flush();
    if (on_step_) on_step_(last);

    if (step % cfg_.checkpoint_every == 0 || step == cfg_.steps) {
      const fs::path root = checkpoint_root(out_dir_);
      const std::string name = fmt::format("step_{:06d}", step);
      const fs::path tmp = root / (name + ".tmp"), final_dir = root / name;
      fs::remove_all(tmp);
      fs::create_directories(tmp);
      save_gates(gates_, tmp / "gates");
      torch::save(opt, (tmp / "optimizer.pt").string());
      nlohmann::json state = {{"step", step}, {"seed", cfg_.seed},
                              {"sample_counter", step * cfg_.batch}, {"lr", lr}};
      io::write_file_atomic(tmp / "state.json", state.dump(2) + "\n");
      fs::remove_all(final_dir);
      fs::rename(tmp, final_dir);
      auto all = complete_checkpoints(out_dir_);
      for (size_t i = 0; i + cfg_.keep_checkpoints < all.size(); ++i) fs::remove_all(all[i].second);
    }
    if (stop_after_ > 0 && done_this_call >= stop_after_) break;
  }
  gates_.set_requires_grad(false);
  return last;
}

}  // namespace seer::core
