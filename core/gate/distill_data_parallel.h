// What the ranks of a data-parallel distillation exchange (core/gate/distill_trainer.h). Each rank
// trains on its shard of every step's samples (dist::shard_of over the global batch B), scaling
// each sample's loss by grad_scale / B as one process does; summing the ranks' gradients then
// gives the gradient of the whole batch, and every rank takes the same optimiser step from the same
// weights. With one process both functions return at once.
#pragma once

#include "core/dist/world.h"

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <vector>

namespace seer::core {

// Rank 0's starting point on every rank: the step it resumes from (returned), the weights and,
// after step 0, the optimiser state, so the other ranks need not see rank 0's checkpoints.
int64_t share_training_start(const dist::World& world, int64_t step,
                             std::vector<at::Tensor>& params, torch::optim::Optimizer& opt);

// Sums the gradients of `params` and the step's statistics `stats` (1-D float, on the parameters'
// device) over the ranks, in place. A parameter that no rank's samples reached keeps no gradient,
// as with one process (AdamW then leaves it alone).
void sum_step_over_ranks(const dist::World& world, std::vector<at::Tensor>& params,
                         at::Tensor& stats);

}  // namespace seer::core
