#include "data/token_windows.h"

#include "core/gate/distill_trainer.h"
#include "core/random/splitmix64.h"
#include "data/data_error.h"

#include <fmt/format.h>

#include <algorithm>

namespace seer::data {

TokenWindowSchedule::TokenWindowSchedule(int64_t num_tokens, int64_t length, int64_t seed,
                                         int64_t cap)
    : num_tokens_(num_tokens), length_(length), seed_(seed), cap_(cap) {
  if (length_ < 1) throw DataError(fmt::format("token windows: length {} < 1", length_));
  if (num_tokens_ < length_)
    throw DataError(fmt::format("token windows: the stream has {} tokens, fewer than one window "
                                "of {}", num_tokens_, length_));
}

int64_t TokenWindowSchedule::offset(int64_t epoch) const {
  if (epoch == 0 || cap_ > 0 || length_ == 1) return 0;
  const uint64_t h = core::splitmix64(core::splitmix64(static_cast<uint64_t>(seed_)) ^
                                       static_cast<uint64_t>(epoch));
  const int64_t o = 1 + static_cast<int64_t>(h % static_cast<uint64_t>(length_ - 1));
  // A stream of barely one window has no room to shift: keep the first grid.
  return num_tokens_ - o >= length_ ? o : 0;
}

int64_t TokenWindowSchedule::windows(int64_t epoch) const {
  const int64_t n = (num_tokens_ - offset(epoch)) / length_;
  return cap_ > 0 ? std::min(cap_, n) : n;
}

int64_t TokenWindowSchedule::start(int64_t counter) const {
  if (counter < 0) throw DataError(fmt::format("token windows: counter {} < 0", counter));
  if (cap_ > 0) return core::distill_sample_index(seed_, counter, windows(0)) * length_;
  int64_t epoch = 0, rest = counter;
  for (int64_t n = windows(0); rest >= n; n = windows(++epoch)) rest -= n;
  const int64_t n = windows(epoch);
  // The seeded permutation of this epoch's n windows (distill_sample_index's for epoch `epoch`).
  const int64_t index = core::distill_sample_index(seed_, epoch * n + rest, n);
  return offset(epoch) + index * length_;
}

}  // namespace seer::data
