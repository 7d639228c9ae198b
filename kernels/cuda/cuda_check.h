// SEER_CUDA_CHECK: every CUDA runtime call goes through it, so a failure names the call and its
// file:line [llm.c, ggml]. Launches are checked right after with cudaGetLastError().
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace seer::kernels::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* expr, const char* file,
                                          int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + expr +
                           " failed: " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) +
                           ")");
}

}  // namespace seer::kernels::cuda

#define SEER_CUDA_CHECK(expr)                                                       \
  do {                                                                              \
    const cudaError_t seer_err_ = (expr);                                           \
    if (seer_err_ != cudaSuccess)                                                   \
      ::seer::kernels::cuda::throw_cuda_error(seer_err_, #expr, __FILE__, __LINE__); \
  } while (0)
