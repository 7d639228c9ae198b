#include "core/model/kv_cache.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace seer::core {

std::pair<at::Tensor, at::Tensor> KVCache::append(int64_t layer, const at::Tensor& k,
                                                  const at::Tensor& v) {
  TORCH_CHECK(layer >= 0 && layer < num_layers(), "KVCache: layer ", layer, " out of range [0, ",
              num_layers(), ")");
  TORCH_CHECK(k.dim() == 4 && k.sizes() == v.sizes(), "KVCache: k ", k.sizes(), " and v ", v.sizes(),
              " must both be [B, S, Hkv, D]");
  at::Tensor& kb = k_[layer];
  at::Tensor& vb = v_[layer];
  const int64_t len = len_[layer];
  const int64_t need = len + k.size(1);
  if (kb.defined()) {
    TORCH_CHECK(kb.size(0) == k.size(0) && kb.size(2) == k.size(2) && kb.size(3) == k.size(3),
                "KVCache: layer ", layer, " holds [B, *, Hkv, D] = ", kb.sizes(),
                " but the new keys are ", k.sizes());
  }
  if (!kb.defined() || kb.size(1) < need) {
    const int64_t cap = std::max<int64_t>(need, kb.defined() ? 2 * kb.size(1) : need);
    at::Tensor nk = at::empty({k.size(0), cap, k.size(2), k.size(3)}, k.options());
    at::Tensor nv = at::empty({v.size(0), cap, v.size(2), v.size(3)}, v.options());
    if (len > 0) {
      nk.narrow(1, 0, len).copy_(kb.narrow(1, 0, len));
      nv.narrow(1, 0, len).copy_(vb.narrow(1, 0, len));
    }
    kb = nk;
    vb = nv;
  }
  kb.narrow(1, len, k.size(1)).copy_(k);
  vb.narrow(1, len, v.size(1)).copy_(v);
  len_[layer] = need;
  return {kb.narrow(1, 0, need), vb.narrow(1, 0, need)};
}

void KVCache::clear() {
  for (auto& t : k_) t = at::Tensor();
  for (auto& t : v_) t = at::Tensor();
  std::fill(len_.begin(), len_.end(), 0);
}

}  // namespace seer::core
