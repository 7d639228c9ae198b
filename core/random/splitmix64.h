// splitmix64 (Steele, Lea, Flood 2014): a fixed, platform-independent 64-bit mix, for deriving
// seeds from (seed, index) pairs so that seeded results carry across standard libraries.
#pragma once

#include <cstdint>

namespace seer::core {

constexpr uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace seer::core
