// The random draws RULER's generators make (Python's random module), on a seeded std::mt19937_64.
// Same distributions as RULER, not the same streams: samples are reproducible per seed here but
// not byte-identical to RULER's own files.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace seer::data {

class RulerRandom {
 public:
  explicit RulerRandom(uint64_t seed) : rng_(seed) {}

  int64_t randint(int64_t lo, int64_t hi) {   // inclusive, as random.randint
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng_);
  }
  size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  template <typename T>
  const T& choice(const std::vector<T>& v) { return v[below(v.size())]; }
  template <typename T>
  void shuffle(std::vector<T>& v) { std::shuffle(v.begin(), v.end(), rng_); }
  // random.sample(range(n), k): k distinct values in random order.
  std::vector<int64_t> sample(int64_t n, int64_t k) {
    std::vector<int64_t> all(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) all[static_cast<size_t>(i)] = i;
    for (int64_t i = 0; i < k; ++i) {
      const int64_t j = i + static_cast<int64_t>(below(static_cast<size_t>(n - i)));
      std::swap(all[static_cast<size_t>(i)], all[static_cast<size_t>(j)]);
    }
    all.resize(static_cast<size_t>(k));
    return all;
  }
  std::string letters(const std::string& alphabet, int k) {   // random.choices(alphabet, k=k)
    std::string out;
    for (int i = 0; i < k; ++i) out.push_back(alphabet[below(alphabet.size())]);
    return out;
  }
  std::string uuid4() {   // str(uuid.UUID(int=random.getrandbits(128), version=4))
    uint64_t hi = rng_(), lo = rng_();
    hi = (hi & ~0xF000ULL) | 0x4000ULL;                          // version 4
    lo = (lo & ~(0xC0ULL << 56)) | (0x80ULL << 56);              // RFC 4122 variant
    char buf[37];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx",
                  static_cast<unsigned>(hi >> 32), static_cast<unsigned>((hi >> 16) & 0xFFFF),
                  static_cast<unsigned>(hi & 0xFFFF), static_cast<unsigned>(lo >> 48),
                  static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFULL));
    return buf;
  }

 private:
  std::mt19937_64 rng_;
};

}  // namespace seer::data
