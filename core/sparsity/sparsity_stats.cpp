#include "core/sparsity/sparsity_stats.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <numeric>
#include <stdexcept>

namespace seer::core {
namespace {

double sparsity_of(int64_t kept, int64_t causal) {
  return causal > 0 ? 1.0 - static_cast<double>(kept) / static_cast<double>(causal) : 0.0;
}

int64_t sum(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }

using CountMap = std::map<int64_t, std::vector<int64_t>>;

void accumulate(CountMap& kept_map, CountMap& causal_map, int64_t layer,
                const std::vector<int64_t>& kept, const std::vector<int64_t>& causal) {
  if (kept.size() != causal.size())
    throw std::invalid_argument(fmt::format("SparsityStats: {} kept counts but {} causal counts",
                                            kept.size(), causal.size()));
  auto& k = kept_map[layer];
  auto& c = causal_map[layer];
  if (k.empty()) {
    k.assign(kept.size(), 0);
    c.assign(kept.size(), 0);
  }
  if (k.size() != kept.size())
    throw std::invalid_argument(fmt::format("SparsityStats: layer {} had {} heads, now {}", layer,
                                            k.size(), kept.size()));
  for (size_t h = 0; h < kept.size(); ++h) {
    k[h] += kept[h];
    c[h] += causal[h];
  }
}

}  // namespace

void SparsityStats::add(int64_t layer, const at::Tensor& mask, const BlockGeometry& geo) {
  TORCH_CHECK(mask.dim() == 4 && mask.size(1) == geo.heads && mask.size(2) == geo.nbq() &&
                  mask.size(3) == geo.nbk(),
              "SparsityStats::add: mask must be [B, Hq=", geo.heads, ", nbq=", geo.nbq(),
              ", nbk=", geo.nbk(), "], got ", mask.sizes());
  auto causal = causal_block_mask(geo);                                  // [B, 1, nbq, nbk]
  auto kept = mask.to(at::kBool).logical_and(causal).sum({0, 2, 3}, false, at::kLong);  // [Hq]
  auto per_head = causal.sum(at::kLong).expand({geo.heads});
  auto counts = at::stack({kept, per_head});                             // [2, Hq]
  auto it = pending_.find(layer);
  if (it == pending_.end()) {
    pending_.emplace(layer, counts);
  } else {
    TORCH_CHECK(it->second.size(1) == geo.heads, "SparsityStats: layer ", layer, " had ",
                it->second.size(1), " heads, now ", geo.heads);
    it->second = it->second + counts;
  }
}

void SparsityStats::flush() const {
  for (const auto& [layer, counts] : pending_) {
    const at::Tensor host = counts.to(at::kCPU).contiguous();
    const int64_t* p = host.data_ptr<int64_t>();
    const int64_t heads = host.size(1);
    accumulate(kept_, causal_, layer, std::vector<int64_t>(p, p + heads),
               std::vector<int64_t>(p + heads, p + 2 * heads));
  }
  pending_.clear();
}

void SparsityStats::add_counts(int64_t layer, const std::vector<int64_t>& kept,
                               const std::vector<int64_t>& causal) {
  accumulate(kept_, causal_, layer, kept, causal);
}

void SparsityStats::merge(const SparsityStats& other) {
  other.flush();
  for (const auto& [layer, kept] : other.kept_) add_counts(layer, kept, other.causal_.at(layer));
}

void SparsityStats::clear() {
  pending_.clear();
  kept_.clear();
  causal_.clear();
}

int64_t SparsityStats::kept_blocks() const {
  flush();
  int64_t n = 0;
  for (const auto& [layer, k] : kept_) n += sum(k);
  return n;
}

int64_t SparsityStats::causal_blocks() const {
  flush();
  int64_t n = 0;
  for (const auto& [layer, c] : causal_) n += sum(c);
  return n;
}

double SparsityStats::overall() const { return sparsity_of(kept_blocks(), causal_blocks()); }

std::vector<int64_t> SparsityStats::layers() const {
  flush();
  std::vector<int64_t> out;
  for (const auto& [layer, k] : kept_) out.push_back(layer);
  return out;
}

double SparsityStats::layer(int64_t layer) const {
  flush();
  auto it = kept_.find(layer);
  if (it == kept_.end())
    throw std::out_of_range(fmt::format("SparsityStats: no counts for layer {}", layer));
  return sparsity_of(sum(it->second), sum(causal_.at(layer)));
}

std::vector<double> SparsityStats::heads(int64_t layer) const {
  flush();
  auto it = kept_.find(layer);
  if (it == kept_.end())
    throw std::out_of_range(fmt::format("SparsityStats: no counts for layer {}", layer));
  const auto& c = causal_.at(layer);
  std::vector<double> out(it->second.size());
  for (size_t h = 0; h < out.size(); ++h) out[h] = sparsity_of(it->second[h], c[h]);
  return out;
}

std::string SparsityStats::to_json() const {
  nlohmann::json j;
  j["overall"] = overall();
  j["kept"] = kept_blocks();
  j["causal"] = causal_blocks();
  nlohmann::json layers_json = nlohmann::json::object();
  for (const auto& [l, k] : kept_)
    layers_json[std::to_string(l)] = {{"sparsity", layer(l)}, {"heads", heads(l)}};
  j["layers"] = layers_json;
  return j.dump();
}

}  // namespace seer::core
