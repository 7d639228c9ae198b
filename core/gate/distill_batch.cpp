#include "core/gate/distill_batch.h"

#include "core/gate/gate_config.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <stdexcept>

namespace seer::core {
namespace {

std::string kinds_text(const std::vector<kernels::PoolKind>& kinds) {
  std::string s;
  for (auto k : kinds) s += std::string(s.empty() ? "" : ",") + pool_kind_name(k);
  return s;
}

bool same_sizes(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].sizes() != b[i].sizes() || a[i].scalar_type() != b[i].scalar_type()) return false;
  return true;
}

// [B, ...] from B tensors of one shape: one copy per sample into a fresh (optionally pinned) buffer.
at::Tensor stack_into(const std::vector<const at::Tensor*>& parts, bool pin) {
  const at::Tensor& first = *parts.front();
  std::vector<int64_t> sizes = {static_cast<int64_t>(parts.size())};
  sizes.insert(sizes.end(), first.sizes().begin(), first.sizes().end());
  auto opts = first.options();
  if (pin) opts = opts.device(at::kCPU).pinned_memory(true);
  auto out = at::empty(sizes, opts);
  for (size_t b = 0; b < parts.size(); ++b) out.select(0, static_cast<int64_t>(b)).copy_(*parts[b]);
  return out;
}

}  // namespace

const std::vector<kernels::PoolKind>& capture_pool_kinds() {
  static const std::vector<kernels::PoolKind> kinds = {
      kernels::PoolKind::kAvg, kernels::PoolKind::kMax, kernels::PoolKind::kMin};
  return kinds;
}

DistillGroup DistillGroup::slice(int64_t first, int64_t count) const {
  DistillGroup out = *this;
  out.ids.assign(ids.begin() + first, ids.begin() + first + count);
  if (!files.empty()) out.files.assign(files.begin() + first, files.begin() + first + count);
  for (auto* v : {&out.q_pooled, &out.k_pooled, &out.g})
    for (auto& t : *v) t = t.narrow(0, first, count);
  return out;
}

int64_t DistillBatch::num_samples() const {
  int64_t n = 0;
  for (const auto& g : groups) n += g.size();
  return n;
}

int64_t DistillBatch::tokens() const {
  int64_t n = 0;
  for (const auto& g : groups) n += g.size() * g.tokens;
  return n;
}

bool same_distill_shape(const DistillSample& a, const DistillSample& b) {
  return a.tokens == b.tokens && a.layers == b.layers && a.heads == b.heads &&
         a.q_kinds == b.q_kinds && a.k_kinds == b.k_kinds && same_sizes(a.q_pooled, b.q_pooled) &&
         same_sizes(a.k_pooled, b.k_pooled) && same_sizes(a.g, b.g);
}

DistillBatch group_distill_samples(const std::vector<DistillSample>& samples, bool pin) {
  std::vector<std::vector<size_t>> members;   // sample indices per group
  for (size_t i = 0; i < samples.size(); ++i) {
    const DistillSample& s = samples[i];
    if (s.layers.empty() || s.q_pooled.size() != s.layers.size() ||
        s.k_pooled.size() != s.layers.size() || s.g.size() != s.layers.size())
      throw std::invalid_argument(fmt::format(
          "distill: sample '{}' has {} layers but {} q_pooled, {} k_pooled and {} G tensors",
          s.id, s.layers.size(), s.q_pooled.size(), s.k_pooled.size(), s.g.size()));
    auto it = std::find_if(members.begin(), members.end(), [&](const std::vector<size_t>& m) {
      return same_distill_shape(samples[m.front()], s);
    });
    if (it == members.end()) members.push_back({i});
    else it->push_back(i);
  }
  DistillBatch batch;
  for (const auto& m : members) {
    const DistillSample& first = samples[m.front()];
    DistillGroup g;
    g.tokens = first.tokens;
    g.layers = first.layers;
    g.heads = first.heads;
    g.q_kinds = first.q_kinds;
    g.k_kinds = first.k_kinds;
    for (size_t i : m) g.ids.push_back(samples[i].id);
    for (size_t l = 0; l < first.layers.size(); ++l) {
      std::vector<const at::Tensor*> q, k, gt;
      for (size_t i : m) {
        q.push_back(&samples[i].q_pooled[l]);
        k.push_back(&samples[i].k_pooled[l]);
        gt.push_back(&samples[i].g[l]);
      }
      g.q_pooled.push_back(stack_into(q, pin));
      g.k_pooled.push_back(stack_into(k, pin));
      g.g.push_back(stack_into(gt, pin));
    }
    batch.groups.push_back(std::move(g));
  }
  return batch;
}

at::Tensor select_pools(const at::Tensor& x, int64_t head_dim,
                        const std::vector<kernels::PoolKind>& have,
                        const std::vector<kernels::PoolKind>& want) {
  TORCH_CHECK(x.size(-1) == head_dim * static_cast<int64_t>(have.size()),
              "select_pools: last dim = ", x.size(-1), ", expected D * |pools| = ", head_dim, " * ",
              have.size());
  if (have == want) return x;
  std::vector<at::Tensor> parts;
  for (auto kind : want) {
    auto it = std::find(have.begin(), have.end(), kind);
    if (it == have.end())
      throw std::invalid_argument(fmt::format("pooled input holds {} but the gate reads {}",
                                              kinds_text(have), kinds_text(want)));
    parts.push_back(x.narrow(-1, (it - have.begin()) * head_dim, head_dim));
  }
  return parts.size() == 1 ? parts[0].contiguous() : at::cat(parts, -1);
}

}  // namespace seer::core
