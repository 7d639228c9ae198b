#include "experiments/stage_list.h"

#include "experiments/stages/stages.h"

namespace seer::experiments {

void register_builtin_stages() {
  register_stage("corpus_stats", make_corpus_stats_stage);
  register_stage("eval_ppl", make_eval_ppl_stage);
  register_stage("capture", make_capture_stage);
  register_stage("distill", make_distill_stage);
}

}  // namespace seer::experiments
