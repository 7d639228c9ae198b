// Independent benchmark samples on several worker threads. Greedy decoding of a small model is
// launch-bound (one token through every layer is hundreds of small kernels, ~15 ms per token for
// SmolLM2-135M on an H100 while the GPU idles), so samples decoded side by side on their own CUDA
// streams keep the GPU busy where one sample cannot. Each worker needs its own Decoder (a copy:
// the weights are shared, the attention hook pointer is per object), its own KV cache and hook
// (generate_sparse_prefill makes both); the GateSet, the policy and the tokenizer are shared and
// only read.
//
//   std::vector<core::Decoder> models(workers, model);
//   run_on_workers(items.size(), workers, model.device(),
//                  [&](int64_t w, int64_t i) { out[i] = run(models[w], items[i]); },
//                  [&](int64_t i) { log.append(out[i]); progress.update(++done); });
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>

namespace seer::experiments {

// Calls work(worker, item) once for every item in [0, n) on min(workers, n) threads, worker in
// [0, workers); items are handed out in ascending order as workers free up. `finished(item)` runs
// after each item's work, one call at a time (no locking needed in it). On a CUDA device each
// worker runs on its own stream from libtorch's pool (the custom kernels launch on the current
// stream) and its work ends with that stream synchronised. With workers == 1 everything runs on
// the calling thread. The first exception stops the hand-out and is rethrown here once every
// worker has stopped.
void run_on_workers(int64_t n, int64_t workers, at::Device device,
                    const std::function<void(int64_t worker, int64_t item)>& work,
                    const std::function<void(int64_t item)>& finished);

}  // namespace seer::experiments
