// Factories of the built-in stages (each defined in experiments/stages/<name>.cpp).
#pragma once

#include "experiments/stage.h"

#include <memory>

namespace seer::experiments {

std::unique_ptr<Stage> make_corpus_stats_stage();
std::unique_ptr<Stage> make_eval_ppl_stage();
std::unique_ptr<Stage> make_capture_stage();
std::unique_ptr<Stage> make_distill_stage();
std::unique_ptr<Stage> make_calibrate_stage();
std::unique_ptr<Stage> make_sweep_stage();
std::unique_ptr<Stage> make_export_heatmaps_stage();
std::unique_ptr<Stage> make_bench_kernels_stage();
std::unique_ptr<Stage> make_eval_ruler_stage();
std::unique_ptr<Stage> make_eval_longbench_stage();
std::unique_ptr<Stage> make_bench_prefill_stage();

}  // namespace seer::experiments
