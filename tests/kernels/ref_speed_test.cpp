// Hidden timing of the CPU reference at the shape the embedded SmolLM2-135M prefill uses (one
// layer: Hq 9, Hkv 3, D 64, S 8192), on OMP_NUM_THREADS or all cores. Not run by default (tag
// [.]); no timed asserts.
//   build*/tests/seer_kernels_tests "[ref_speed]"
#include "catch.h"
#include "kernels/attention.h"
#include "naive_util.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <thread>

using namespace seer::kernels;

namespace {

template <class F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("CPU reference speed at 8k tokens", "[.][ref_speed]") {
  const int64_t S = 8192, block = 64;
  test::init_test_process();   // seeds, and pins one thread: undo that for the timing
  const char* env = std::getenv("OMP_NUM_THREADS");
  at::set_num_threads(env ? std::atoi(env) : int(std::thread::hardware_concurrency()));
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    const auto x = test::random_qkv(1, S, S, 9, 3, 64, dtype);
    const double dense = seconds([&] { attention(x.q, x.k, x.v, {}); });
    const double maxpool = seconds([&] { attention_with_block_maxpool(x.q, x.k, x.v, block, {}); });
    const int64_t nb = S / block;
    const at::Tensor mask = at::rand({1, 9, nb, nb}).lt(0.1).logical_or_(at::eye(nb, at::kBool));
    const BlockIndex index = block_index_from_mask(mask, block, S, S);
    const double sparse = seconds([&] { block_sparse_attention(x.q, x.k, x.v, index, {}); });
    const double pool = seconds([&] { pool_blocks(x.q, block, {PoolKind::kAvg, PoolKind::kMax, PoolKind::kMin}); });
    fmt::print("{} S={} Hq=9 Hkv=3 D=64 threads={}: dense {:.3f} s, maxpool {:.3f} s, "
               "sparse(keep~0.1) {:.3f} s, pool_blocks {:.4f} s\n",
               c10::toString(dtype), S, at::get_num_threads(), dense, maxpool, sparse, pool);
  }
  SUCCEED();
}
