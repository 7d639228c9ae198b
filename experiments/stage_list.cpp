#include "experiments/stage_list.h"

#include "experiments/stages/stages.h"

namespace seer::experiments {

void register_builtin_stages() {
  register_stage("corpus_stats", make_corpus_stats_stage);
  register_stage("eval_ppl", make_eval_ppl_stage);
  register_stage("capture", make_capture_stage);
  register_stage("distill", make_distill_stage);
  register_stage("calibrate", make_calibrate_stage);
  register_stage("sweep", make_sweep_stage);
  register_stage("export_heatmaps", make_export_heatmaps_stage);
  register_stage("bench_kernels", make_bench_kernels_stage);
  register_stage("eval_ruler", make_eval_ruler_stage);
  register_stage("eval_longbench", make_eval_longbench_stage);
  register_stage("bench_prefill", make_bench_prefill_stage);
}

}  // namespace seer::experiments
