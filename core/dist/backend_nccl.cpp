#include "core/dist/backends.h"

#ifdef SEER_WITH_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace seer::core::dist {

#ifdef SEER_WITH_NCCL

bool nccl_built() { return true; }

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    const DistEnv& env) {
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(env.local_rank));
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.world_size,
                                                     c10d::ProcessGroupNCCL::Options::create());
}

#else

bool nccl_built() { return false; }

c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>&,
                                                    const DistEnv&) {
  throw DistError("this build has no NCCL backend (it needs a CUDA build of Seer and nccl.h, from "
                  "the nvidia-nccl wheel beside torch); SEER_DIST_BACKEND=gloo runs the "
                  "collectives through host memory instead");
}

#endif

}  // namespace seer::core::dist
