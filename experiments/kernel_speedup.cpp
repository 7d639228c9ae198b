#include "experiments/kernel_speedup.h"

#include <fmt/format.h>

#include <map>

namespace seer::experiments {

nlohmann::json kernel_speedup_json(const std::vector<KernelBenchRow>& rows, const std::string& gpu) {
  std::map<int64_t, double> dense_ms;
  for (const auto& r : rows) {
    if (r.impl == "seer_dense") dense_ms[r.seq] = r.ms;
  }
  nlohmann::json out = {
      {"title", fmt::format("Block-sparse attention kernel vs Seer's dense kernel ({})", gpu)},
      {"rows", nlohmann::json::array()}};
  for (const auto& r : rows) {
    const auto dense = dense_ms.find(r.seq);
    if (r.impl.rfind("seer_sparse", 0) != 0 || dense == dense_ms.end() || !(r.ms > 0)) continue;
    out["rows"].push_back({{"series", fmt::format("{} @{}", r.impl, r.seq)},
                           {"sparsity", 1.0 - r.kept},
                           {"speedup", dense->second / r.ms},
                           {"ms", r.ms},
                           {"dense_ms", dense->second}});
  }
  return out;
}

}  // namespace seer::experiments
