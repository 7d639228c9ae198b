#include "core/gate/distill_data_parallel.h"

#include <ATen/ATen.h>
#include <torch/serialize.h>

#include <cstring>
#include <sstream>
#include <string>

namespace seer::core {
namespace {

// One flat tensor of `parts` (each flattened), so a collective moves them in one message.
at::Tensor flat_of(const std::vector<at::Tensor>& parts) {
  std::vector<at::Tensor> flat;
  for (const auto& p : parts) flat.push_back(p.reshape(-1));
  return at::cat(flat);
}

// Rank 0's optimiser state, serialised as torch::save writes it, loaded on the other ranks.
void share_optimizer_state(const dist::World& world, torch::optim::Optimizer& opt) {
  std::string bytes;
  if (world.is_main()) {
    std::ostringstream out;
    torch::save(opt, out);
    bytes = out.str();
  }
  at::Tensor size = at::full({1}, static_cast<int64_t>(bytes.size()), at::kLong);
  world.broadcast(size);
  const int64_t n = size.item<int64_t>();
  at::Tensor data = at::empty({n}, at::kByte);
  if (world.is_main()) std::memcpy(data.data_ptr(), bytes.data(), bytes.size());
  world.broadcast(data);
  if (world.is_main()) return;
  std::istringstream in(std::string(static_cast<const char*>(data.data_ptr()), n));
  torch::load(opt, in);
}

}  // namespace

int64_t share_training_start(const dist::World& world, int64_t step,
                             std::vector<at::Tensor>& params, torch::optim::Optimizer& opt) {
  if (world.size() == 1) return step;
  at::Tensor s = at::full({1}, step, at::kLong);
  world.broadcast(s);
  step = s.item<int64_t>();
  {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> detached;
    for (const auto& p : params) detached.push_back(p.detach());
    at::Tensor weights = flat_of(detached);
    world.broadcast(weights);
    int64_t at = 0;
    for (auto& p : params) {
      p.copy_(weights.slice(0, at, at + p.numel()).view_as(p));
      at += p.numel();
    }
  }
  if (step > 0) share_optimizer_state(world, opt);
  return step;
}

void sum_step_over_ranks(const dist::World& world, std::vector<at::Tensor>& params,
                         at::Tensor& stats) {
  if (world.size() == 1) return;
  const auto fopts = stats.options();
  std::vector<at::Tensor> parts;
  std::vector<float> reached;
  for (const auto& p : params) {
    const bool has = p.grad().defined();
    parts.push_back(has ? p.grad() : at::zeros({p.numel()}, fopts));
    reached.push_back(has ? 1.0f : 0.0f);
  }
  parts.push_back(at::tensor(reached).to(fopts.device()));
  parts.push_back(stats);
  at::Tensor flat = flat_of(parts);
  world.all_reduce_sum(flat);
  int64_t total = 0;
  for (const auto& p : params) total += p.numel();
  const at::Tensor reached_anywhere =
      flat.slice(0, total, total + static_cast<int64_t>(params.size())).cpu();
  int64_t at = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    const at::Tensor sum = flat.slice(0, at, at + p.numel()).view_as(p);
    at += p.numel();
    if (reached_anywhere[static_cast<int64_t>(i)].item<float>() == 0) continue;
    if (p.grad().defined()) {
      p.mutable_grad().copy_(sum);
    } else {
      p.mutable_grad() = sum.clone();
    }
  }
  stats.copy_(flat.slice(0, total + static_cast<int64_t>(params.size())));
}

}  // namespace seer::core
