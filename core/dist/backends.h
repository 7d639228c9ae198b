// The collective backends of c10d that libtorch carries: ProcessGroupGloo (CPU tensors, and CUDA
// tensors through host copies) and ProcessGroupNCCL (CUDA tensors, in a CUDA build). Each is built
// only where its headers were found (core/CMakeLists.txt); otherwise its factory throws a DistError
// saying what the build lacks.
#pragma once

#include "core/dist/dist_env.h"

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

namespace seer::core::dist {

bool gloo_built();
bool nccl_built();

// The gloo group of env's ranks, meeting through `store`. The network device is
// $GLOO_SOCKET_IFNAME's interface when set (as torch.distributed does), the loopback device when
// MASTER_ADDR is a loopback address (all ranks on this host), else this host's name.
c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    const DistEnv& env);

// The NCCL group of env's ranks on cuda:<local_rank>.
c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    const DistEnv& env);

}  // namespace seer::core::dist
