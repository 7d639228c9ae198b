// CPU reference of attention(): dense causal (or full) attention, tile by tile.
#include "kernels/ref/attn_tile.h"
#include "kernels/ref/ref.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

namespace seer::kernels::ref {

AttnResult attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     const AttnOptions& opts) {
  const int64_t Hq = q.size(2);
  const int64_t Hkv = k.size(2);
  const int64_t g = Hq / Hkv;
  const at::ScalarType acc = accumulation_dtype(opts, q.scalar_type());
  const double scale = opts.scale > 0 ? opts.scale : 1.0 / std::sqrt(double(q.size(3)));
  const std::vector<SeqSpan> spans = seq_spans(q, k, opts);
  const std::vector<TileTask> tasks = make_tile_tasks(spans, Hkv, opts.causal);

  AttnResult res;
  res.out = at::zeros(q.sizes(), q.options());   // rows no sequence covers stay 0
  if (opts.return_lse) {
    res.lse = at::full({q.size(0), Hq, q.size(1)}, -std::numeric_limits<float>::infinity(),
                       q.options().dtype(at::kFloat));
  }
  run_tasks(static_cast<int64_t>(tasks.size()), [&](int64_t i) {
    const TileTask& t = tasks[i];
    TileInputs in;
    in.q = load_query_tile(q, t, g, acc, scale);
    in.k = k[t.seq.batch].narrow(0, t.seq.k_start, t.seq.k_len).select(1, t.kv_head);
    in.v = v[t.seq.batch].narrow(0, t.seq.k_start, t.seq.k_len).select(1, t.kv_head);
    in.first_pos = t.row0 + t.seq.offset();
    in.causal = opts.causal;
    store_tile(t, g, attend_tile(in), res.out, res.lse);
  });
  return res;
}

}  // namespace seer::kernels::ref
