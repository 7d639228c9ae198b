#include "data/capture_samples.h"

#include <fmt/format.h>

namespace seer::data {

std::vector<core::DistillSample> load_distill_samples(const CaptureReader& reader,
                                                      int64_t max_sequences) {
  std::vector<core::DistillSample> out;
  for (const auto& id : reader.sequences()) {
    if (max_sequences > 0 && static_cast<int64_t>(out.size()) >= max_sequences) break;
    core::DistillSample s;
    s.id = id;
    s.tokens = reader.length(id);
    s.heads = reader.info().heads;
    for (int64_t layer : reader.layers(id)) {
      CaptureLayerData d = reader.read_layer(id, layer);
      if (!d.q_pooled.defined() || !d.k_pooled.defined())
        throw DataError(fmt::format("capture sequence '{}' layer {}: no pooled Q/K (captured "
                                    "with pooled: false), cannot distil offline", id, layer));
      s.layers.push_back(layer);
      s.q_pooled.push_back(d.q_pooled);
      s.k_pooled.push_back(d.k_pooled);
      s.g.push_back(d.g);
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace seer::data
