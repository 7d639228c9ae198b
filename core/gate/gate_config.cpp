#include "core/gate/gate_config.h"

#include "core/sparsity/block_mask.h"

#include <fmt/format.h>

#include <stdexcept>

namespace seer::core {

const char* pool_kind_name(kernels::PoolKind kind) {
  switch (kind) {
    case kernels::PoolKind::kAvg: return "avg";
    case kernels::PoolKind::kMax: return "max";
    case kernels::PoolKind::kMin: return "min";
  }
  return "?";
}

std::string GateConfig::gate_type_name(const std::vector<kernels::PoolKind>& q,
                                       const std::vector<kernels::PoolKind>& k) {
  std::string s = "Q";
  for (auto kind : q) s += pool_kind_name(kind);
  s += "_K";
  for (auto kind : k) s += pool_kind_name(kind);
  return s;
}

namespace {

// "maxminavg" -> {max, min, avg}; each kind at most once.
std::vector<kernels::PoolKind> parse_kinds(const std::string& text, const std::string& whole) {
  static const std::pair<const char*, kernels::PoolKind> kKinds[] = {
      {"avg", kernels::PoolKind::kAvg}, {"max", kernels::PoolKind::kMax},
      {"min", kernels::PoolKind::kMin}};
  std::vector<kernels::PoolKind> out;
  size_t pos = 0;
  while (pos < text.size()) {
    bool matched = false;
    for (const auto& [name, kind] : kKinds) {
      if (text.compare(pos, 3, name) == 0) {
        for (auto seen : out)
          if (seen == kind)
            throw std::invalid_argument(
                fmt::format("gate type '{}': pooling '{}' listed twice", whole, name));
        out.push_back(kind);
        pos += 3;
        matched = true;
        break;
      }
    }
    if (!matched)
      throw std::invalid_argument(fmt::format(
          "gate type '{}': cannot read '{}': expected Q<kinds>_K<kinds> with kinds avg | max | min, "
          "e.g. Qavg_Kmaxminavg",
          whole, text.substr(pos)));
  }
  if (out.empty())
    throw std::invalid_argument(fmt::format(
        "gate type '{}': each side needs at least one pooling (avg | max | min)", whole));
  return out;
}

}  // namespace

void parse_gate_type(const std::string& text, std::vector<kernels::PoolKind>* q_pools,
                     std::vector<kernels::PoolKind>* k_pools) {
  const auto sep = text.find("_K");
  if (text.size() < 2 || text[0] != 'Q' || sep == std::string::npos)
    throw std::invalid_argument(fmt::format(
        "gate type '{}': expected Q<kinds>_K<kinds> with kinds avg | max | min, e.g. "
        "Qavg_Kmaxminavg",
        text));
  *q_pools = parse_kinds(text.substr(1, sep - 1), text);
  *k_pools = parse_kinds(text.substr(sep + 2), text);
}

bool valid_q_subblocks(int64_t block_size, int64_t q_subblocks) {
  return q_subblocks >= 1 && block_size % q_subblocks == 0 && block_size / q_subblocks >= 16;
}

int64_t distance_bucket(int64_t delta, int64_t n) {
  if (delta < 0 || n < 2)
    throw std::invalid_argument(fmt::format("distance_bucket({}, {}): expected delta >= 0, n >= 2",
                                            delta, n));
  const int64_t h = n / 2;
  if (delta < h) return delta;
  int64_t bucket = h;
  for (int64_t edge = 2 * h; delta >= edge && bucket < n - 1; edge *= 2) ++bucket;
  return bucket;
}

GateConfig parse_gate_config(const config::ConfigReader& r) {
  GateConfig c;
  const std::string type = r.get<std::string>("type", c.type_name());
  try {
    parse_gate_type(type, &c.q_pools, &c.k_pools);
  } catch (const std::invalid_argument& e) {
    r.fail("type", e.what());
  }
  c.block_size = read_block_size(r, "block_size", c.block_size);
  c.hidden_size = r.get<int64_t>("hidden_size", c.hidden_size);
  if (c.hidden_size <= 0 || c.hidden_size % 2 != 0)
    r.fail("hidden_size", "expected a positive even number (RoPE rotates pairs)");
  c.seed = r.get<int64_t>("seed", c.seed);
  c.init_std = r.get<double>("init_std", c.init_std);
  if (!(c.init_std > 0)) r.fail("init_std", "expected a positive number");
  c.rope_dim = r.get_choice("rope_dim", {"hidden_size", "head_dim"}, c.rope_dim);
  c.q_subblocks = r.get<int64_t>("q_subblocks", c.q_subblocks);
  if (!valid_q_subblocks(c.block_size, c.q_subblocks))
    r.fail("q_subblocks", fmt::format("{}: expected a divisor of block_size {} leaving sub-blocks "
                                      "of >= 16 tokens (the pooling kernels' smallest block)",
                                      c.q_subblocks, c.block_size));
  c.distance_buckets = r.get<int64_t>("distance_buckets", c.distance_buckets);
  if (c.distance_buckets < 0 || c.distance_buckets == 1 || c.distance_buckets > 64)
    r.fail("distance_buckets", fmt::format("{}: expected 0 (no distance bias) or 2 .. 64",
                                           c.distance_buckets));
  r.finish();
  return c;
}

}  // namespace seer::core
