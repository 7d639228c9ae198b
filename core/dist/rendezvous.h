// The meeting point of a multi-process run: libtorch's c10d TCPStore at MASTER_ADDR:MASTER_PORT
// (served by rank 0, or by torchrun's agent), where every rank announces itself and waits until
// all WORLD_SIZE ranks have. Collective backends (gloo, NCCL) exchange their addresses through
// the store it returns, and the pipeline runner passes its decisions through it.
#pragma once

#include "core/dist/dist_env.h"

#include <torch/csrc/distributed/c10d/Store.hpp>

namespace seer::core::dist {

// The store of this launch (keys under env.store_prefix), once every rank has arrived. DistError
// when the server cannot start (port in use) or cannot be reached, and when ranks are missing after
// env.rendezvous_timeout: "... ranks 1, 2 of 3 did not arrive (arrived: 0)".
c10::intrusive_ptr<c10d::Store> rendezvous(const DistEnv& env);

}  // namespace seer::core::dist
