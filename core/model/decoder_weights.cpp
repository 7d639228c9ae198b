#include "core/model/decoder_weights.h"

#include "core/io/check_finite.h"

#include <fmt/format.h>

#include <utility>

namespace seer::core {

void check_weights_finite(const DecoderWeights& w, const std::string& source) {
  auto check = [&](const at::Tensor& t, const std::string& name) {
    io::check_finite(t, fmt::format("{}: weight '{}'", source, name));
  };
  check(w.embed_tokens, "embed_tokens");
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const auto& L = w.layers[l];
    const std::pair<const at::Tensor*, const char*> named[] = {
        {&L.input_norm, "input_norm"}, {&L.q_proj, "q_proj"}, {&L.k_proj, "k_proj"},
        {&L.v_proj, "v_proj"}, {&L.o_proj, "o_proj"}, {&L.q_bias, "q_bias"},
        {&L.k_bias, "k_bias"}, {&L.v_bias, "v_bias"}, {&L.o_bias, "o_bias"},
        {&L.post_attention_norm, "post_attention_norm"}, {&L.gate_proj, "gate_proj"},
        {&L.up_proj, "up_proj"}, {&L.down_proj, "down_proj"}, {&L.gate_bias, "gate_bias"},
        {&L.up_bias, "up_bias"}, {&L.down_bias, "down_bias"}};
    for (const auto& [t, name] : named) check(*t, fmt::format("layers.{}.{}", l, name));
  }
  check(w.final_norm, "final_norm");
  check(w.lm_head, "lm_head");
}

}  // namespace seer::core
