// Input checks of kernels/attention.h: each bad input throws, and the message names the tensor,
// the dim and the sizes.
#include "catch.h"
#include "kernels/attention.h"
#include "naive_util.h"

#include <ATen/ATen.h>

using namespace seer::kernels;

namespace {

struct Inputs {
  at::Tensor q = at::zeros({2, 64, 8, 64});
  at::Tensor k = at::zeros({2, 64, 2, 64});
  at::Tensor v = at::zeros({2, 64, 2, 64});
  AttnOptions opts;
};

#define REQUIRE_ATTN_THROWS(in, text) \
  REQUIRE_THROWS_WITH(attention((in).q, (in).k, (in).v, (in).opts), SEER_CONTAINS(text))

}  // namespace

TEST_CASE("attention rejects bad shapes", "[kernels][validation]") {
  Inputs in;
  SECTION("3-D q") {
    in.q = at::zeros({2, 64, 8});
    REQUIRE_ATTN_THROWS(in, "q: expected 4 dims [B, Sq, Hq, D], got 3 dims [2, 64, 8]");
  }
  SECTION("Hkv does not divide Hq") {
    in.q = at::zeros({2, 64, 32, 64});
    in.k = at::zeros({2, 64, 6, 64});
    in.v = at::zeros({2, 64, 6, 64});
    REQUIRE_ATTN_THROWS(in, "k: dim 2 (Hkv) = 6 does not divide Hq = 32");
  }
  SECTION("batch differs") {
    in.k = at::zeros({3, 64, 2, 64});
    REQUIRE_ATTN_THROWS(in, "k: dim 0 (B) = 3 differs from q: dim 0 (B) = 2");
  }
  SECTION("v length differs from k") {
    in.v = at::zeros({2, 63, 2, 64});
    REQUIRE_ATTN_THROWS(in, "v: dim 1 (Sk) = 63 differs from k: dim 1 (Sk) = 64");
  }
  SECTION("v heads differ from k") {
    in.v = at::zeros({2, 64, 4, 64});
    REQUIRE_ATTN_THROWS(in, "v: dim 2 (Hkv) = 4 differs from k: dim 2 (Hkv) = 2");
  }
  SECTION("head dim differs") {
    in.k = at::zeros({2, 64, 2, 32});
    REQUIRE_ATTN_THROWS(in, "k: dim 3 (D) = 32 differs from q: dim 3 (D) = 64");
  }
  SECTION("head dim not contiguous") {
    in.q = at::zeros({2, 64, 8, 128}).narrow(3, 0, 128).slice(3, 0, 128, 2);
    REQUIRE_ATTN_THROWS(in, "q: dim 3 (D) must have stride 1, got stride 2");
  }
  SECTION("causal with more queries than keys") {
    in.q = at::zeros({2, 65, 8, 64});
    REQUIRE_ATTN_THROWS(in, "q: dim 1 (Sq) = 65 exceeds k: dim 1 (Sk) = 64");
  }
  SECTION("negative scale") {
    in.opts.scale = -1.0;
    REQUIRE_ATTN_THROWS(in, "opts.scale = -1");
  }
}

TEST_CASE("attention rejects bad dtypes", "[kernels][validation]") {
  Inputs in;
  SECTION("integer q") {
    in.q = in.q.to(at::kInt);
    REQUIRE_ATTN_THROWS(in, "q: dtype Int not supported (expected float32, bfloat16, float16 or float64)");
  }
  SECTION("mixed dtypes") {
    in.v = in.v.to(at::kHalf);
    REQUIRE_ATTN_THROWS(in, "v: dtype Half differs from q: dtype Float");
  }
}

TEST_CASE("attention rejects bad batch layouts", "[kernels][validation]") {
  Inputs in;
  SECTION("seq_lens wrong length") {
    in.opts.seq_lens = at::tensor({64, 3, 5}, at::kInt);
    REQUIRE_ATTN_THROWS(in, "seq_lens: expected shape [2] (B = q: dim 0), got [3]");
  }
  SECTION("seq_lens float") {
    in.opts.seq_lens = at::tensor({64.0, 3.0}, at::kFloat);
    REQUIRE_ATTN_THROWS(in, "seq_lens: dtype Float not supported (expected int32 or int64)");
  }
  SECTION("seq_lens value too large") {
    in.opts.seq_lens = at::tensor({64, 65}, at::kLong);
    REQUIRE_ATTN_THROWS(in, "seq_lens: entry 1 = 65 outside [0, S = 64]");
  }
  SECTION("seq_lens with Sq != Sk") {
    in.k = at::zeros({2, 128, 2, 64});
    in.v = at::zeros({2, 128, 2, 64});
    in.opts.seq_lens = at::tensor({64, 3}, at::kLong);
    REQUIRE_ATTN_THROWS(in, "seq_lens: padded batches need Sq == Sk, got q: dim 1 (Sq) = 64, k: dim 1 (Sk) = 128");
  }
  SECTION("varlen with batch > 1") {
    in.opts.cu_seqlens_q = at::tensor({0, 64}, at::kInt);
    in.opts.cu_seqlens_k = at::tensor({0, 64}, at::kInt);
    REQUIRE_ATTN_THROWS(in, "q: dim 0 (B) = 2 must be 1 with cu_seqlens");
  }
  SECTION("varlen") {
    in.q = at::zeros({1, 100, 8, 64});
    in.k = at::zeros({1, 100, 2, 64});
    in.v = at::zeros({1, 100, 2, 64});
    SECTION("only cu_seqlens_q") {
      in.opts.cu_seqlens_q = at::tensor({0, 100}, at::kInt);
      REQUIRE_ATTN_THROWS(in, "cu_seqlens_k: missing");
    }
    SECTION("int64 cu_seqlens") {
      in.opts.cu_seqlens_q = at::tensor({0, 100}, at::kLong);
      in.opts.cu_seqlens_k = at::tensor({0, 100}, at::kInt);
      REQUIRE_ATTN_THROWS(in, "cu_seqlens_q: dtype Long not supported (expected int32)");
    }
    SECTION("lengths differ") {
      in.opts.cu_seqlens_q = at::tensor({0, 50, 100}, at::kInt);
      in.opts.cu_seqlens_k = at::tensor({0, 100}, at::kInt);
      REQUIRE_ATTN_THROWS(in, "cu_seqlens_k: expected shape [3] (B + 1 as cu_seqlens_q), got [2]");
    }
    SECTION("decreasing") {
      in.opts.cu_seqlens_q = at::tensor({0, 60, 50, 100}, at::kInt);
      in.opts.cu_seqlens_k = at::tensor({0, 60, 60, 100}, at::kInt);
      REQUIRE_ATTN_THROWS(in, "cu_seqlens_q: entry 2 = 50 is less than entry 1 = 60");
    }
    SECTION("total mismatch") {
      in.opts.cu_seqlens_q = at::tensor({0, 50, 90}, at::kInt);
      in.opts.cu_seqlens_k = at::tensor({0, 50, 100}, at::kInt);
      REQUIRE_ATTN_THROWS(in, "cu_seqlens_q: last entry = 90 differs from q: dim 1 (total_q) = 100");
    }
    SECTION("a sequence with more queries than keys") {
      in.opts.cu_seqlens_q = at::tensor({0, 60, 100}, at::kInt);
      in.opts.cu_seqlens_k = at::tensor({0, 50, 100}, at::kInt);
      REQUIRE_ATTN_THROWS(in, "cu_seqlens_q: sequence 0 has Sq = 60 > Sk = 50");
    }
    SECTION("both layouts") {
      in.opts.cu_seqlens_q = at::tensor({0, 100}, at::kInt);
      in.opts.cu_seqlens_k = at::tensor({0, 100}, at::kInt);
      in.opts.seq_lens = at::tensor({100}, at::kInt);
      REQUIRE_ATTN_THROWS(in, "seq_lens: given together with cu_seqlens_q/k");
    }
  }
}

TEST_CASE("block functions reject bad block sizes and chunk offsets", "[kernels][validation]") {
  Inputs in;
  REQUIRE_THROWS_WITH(attention_with_block_maxpool(in.q, in.k, in.v, 48, {}),
                      SEER_CONTAINS("block = 48 not supported (expected 16, 32, 64 or 128)"));
  in.k = at::zeros({2, 80, 2, 64});
  in.v = at::zeros({2, 80, 2, 64});
  REQUIRE_THROWS_WITH(attention_with_block_maxpool(in.q, in.k, in.v, 32, {}),
                      SEER_CONTAINS("k: dim 1 (Sk) - q: dim 1 (Sq) = 80 - 64 = 16 is not a multiple of block = 32"));
  AttnOptions varlen;
  varlen.cu_seqlens_q = at::tensor({0, 10, 20}, at::kInt);
  varlen.cu_seqlens_k = at::tensor({0, 30, 40}, at::kInt);
  const at::Tensor q = at::zeros({1, 20, 2, 64});
  const at::Tensor kv = at::zeros({1, 40, 2, 64});
  REQUIRE_THROWS_WITH(attention_with_block_maxpool(q, kv, kv, 16, varlen),
                      SEER_CONTAINS("cu_seqlens_q/k: sequence 0 has Sk - Sq = 30 - 10 = 20, not a multiple of block = 16"));
}

TEST_CASE("block sparse attention rejects a mismatched index", "[kernels][validation]") {
  Inputs in;
  const BlockIndex good = block_index_from_mask(at::ones({2, 8, 4, 4}, at::kBool), 16, 64, 64);
  SECTION("wrong query heads") {
    const BlockIndex bad = block_index_from_mask(at::ones({2, 4, 4, 4}, at::kBool), 16, 64, 64);
    REQUIRE_THROWS_WITH(block_sparse_attention(in.q, in.k, in.v, bad, {}),
                        SEER_CONTAINS("blocks.counts: expected shape [B, Hq, nbq] = [2, 8, 4] (block = 16), got [2, 4, 4]"));
  }
  SECTION("block size of another grid") {
    BlockIndex bad = good;
    bad.block = 32;
    REQUIRE_THROWS_WITH(block_sparse_attention(in.q, in.k, in.v, bad, {}),
                        SEER_CONTAINS("blocks.counts: expected shape [B, Hq, nbq] = [2, 8, 2] (block = 32)"));
  }
  SECTION("int64 indices") {
    BlockIndex bad = good;
    bad.indices = bad.indices.to(at::kLong);
    REQUIRE_THROWS_WITH(block_sparse_attention(in.q, in.k, in.v, bad, {}),
                        SEER_CONTAINS("blocks.indices: dtype Long not supported (expected int32)"));
  }
  SECTION("non-contiguous indices") {
    BlockIndex bad = good;
    bad.indices = bad.indices.transpose(2, 3);
    REQUIRE_THROWS_WITH(block_sparse_attention(in.q, in.k, in.v, bad, {}),
                        SEER_CONTAINS("blocks.indices: must be contiguous"));
  }
}

TEST_CASE("pool_blocks rejects bad inputs", "[kernels][validation]") {
  const at::Tensor x = at::zeros({2, 64, 2, 64});
  REQUIRE_THROWS_WITH(pool_blocks(x, 24, {PoolKind::kAvg}),
                      SEER_CONTAINS("block = 24 not supported"));
  REQUIRE_THROWS_WITH(pool_blocks(x, 16, {}), SEER_CONTAINS("kinds: empty"));
  REQUIRE_THROWS_WITH(pool_blocks(x.select(3, 0), 16, {PoolKind::kMax}),
                      SEER_CONTAINS("x: expected 4 dims [B, S, H, D], got 3 dims [2, 64, 2]"));
  REQUIRE_THROWS_WITH(pool_blocks(x, 16, {PoolKind::kMax}, at::tensor({64, 65}, at::kInt)),
                      SEER_CONTAINS("seq_lens: entry 1 = 65 outside [0, S = 64]"));
  REQUIRE_THROWS_WITH(pool_blocks(x.to(at::kInt), 16, {PoolKind::kMax}),
                      SEER_CONTAINS("x: dtype Int not supported"));
}

TEST_CASE("without CUDA kernels the API says so", "[kernels][validation]") {
  if (cuda_kernels_available()) SEER_SKIP("CUDA kernels present");
  CHECK_FALSE(cuda_kernels_available());
}
