// Gate files (issue 6 §4). Seer's own format is a folder with
//   gates.safetensors  tensors in the reference layout (below), float32
//   gates.json         {"format": "seer-gates", "version": 1, "type", "block_size", "hidden_size",
//                       "base_model", "num_layers", "num_q_heads", "num_kv_heads", "head_dim",
//                       "identity_q", "seed", "init_std", "rope_dim", "q_subblocks",
//                       "distance_buckets", "rope": {...}}
//                      and, with distance_buckets > 0, model.layers.{i}.self_attn.attn_gate.
//                      distance_bias [Hq, n] beside the reference-layout tensors
// so a folder of ours is self-contained. The reference implementation's published AttnGate layout
// is imported/exported as a folder with
//   model.safetensors  model.layers.{i}.self_attn.attn_gate.mask_linear_q.weight [Hq, D*|q|, d]
//                      model.layers.{i}.self_attn.attn_gate.mask_linear_k.weight [Hkv, D*|k|, d]
//                      (no mask_linear_q and mask_linear_k [Hq, D*|k|, d] in the identity-Q corner)
//   config.json        seerattn_gate_type, seerattn_gate_block_size, seerattn_gate_hidden_size,
//                      base_model (+ the head counts we know and seer_rope_dim, which the
//                      reference ignores). The pooled channels are concatenated in the order the
//                      type names them (the reference's classes: Qavg_Kmaxminavg = max | min | avg),
//                      which is the order GateConfig keeps. Import takes the block RoPE from
//                      seer_rope_dim, else from model_type when D != d (llama: head_dim, else
//                      hidden_size; docs/distillation.md).
// Files are written atomically; errors name the file and the tensor or key.
#pragma once

#include "core/gate/gate_set.h"

#include <filesystem>
#include <optional>
#include <string>

namespace seer::core {

std::string reference_gate_tensor_name(int64_t layer, bool q_side);
std::string distance_bias_tensor_name(int64_t layer);   // ours only

void save_gates(const GateSet& gates, const std::filesystem::path& dir);
GateSet load_gates(const std::filesystem::path& dir);

void export_reference_gates(const GateSet& gates, const std::filesystem::path& dir);
// `rope` and `shape` come from the base model the gates are attached to (the reference files do
// not carry them); the weights' shapes are checked against `shape`. Any *.safetensors in `dir`
// holding the tensors is read (model.safetensors first).
GateSet import_reference_gates(const std::filesystem::path& dir, const GateRope& rope,
                               const GateShape& shape);

}  // namespace seer::core
