// The kernel figure of the paper (speed-up vs sparsity) from kernel benchmark rows: per sequence
// length, each block-sparse row's time against Seer's dense kernel at that length, with the
// sparsity it achieved (1 - kept fraction). The JSON is the input of
// analysis/plots/speedup_vs_sparsity.py, as bench_prefill writes it.
#pragma once

#include "experiments/bench_kernels_lib.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace seer::experiments {

// {"title": ..., "rows": [{"series": "seer_sparse @32768", "sparsity", "speedup", "ms", "dense_ms"}]}
// Rows of impl seer_sparse* (variants and gate-like masks included); lengths without a seer_dense
// row are left out.
nlohmann::json kernel_speedup_json(const std::vector<KernelBenchRow>& rows, const std::string& gpu);

}  // namespace seer::experiments
