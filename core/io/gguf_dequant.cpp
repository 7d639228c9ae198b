// Dequantisation of ggml block formats to float32, following ggml-quants.c [ggml]:
//   Q8_0: 32 values, fp16 d, int8 q       -> d * q
//   Q4_0: 32 values, fp16 d, 4-bit q      -> d * (q - 8)    (low nibbles first, then high)
//   Q4_1: 32 values, fp16 d, fp16 m, q    -> d * q + m
//   Q4_K: 256 values, 8 sub-blocks with 6-bit scales/mins, fp16 d and dmin
//   Q6_K: 256 values, 16 sub-blocks with int8 scales, fp16 d
#include "core/io/gguf.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace seer::io {
namespace {

float half_at(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return static_cast<float>(c10::Half(bits, c10::Half::from_bits()));
}

struct BlockLayout {
  int64_t values;
  int64_t bytes;
};

BlockLayout block_layout(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32: return {1, 4};
    case GgmlType::kF16: return {1, 2};
    case GgmlType::kBF16: return {1, 2};
    case GgmlType::kQ4_0: return {32, 18};
    case GgmlType::kQ4_1: return {32, 20};
    case GgmlType::kQ5_0: return {32, 22};
    case GgmlType::kQ5_1: return {32, 24};
    case GgmlType::kQ8_0: return {32, 34};
    case GgmlType::kQ8_1: return {32, 36};
    case GgmlType::kQ2_K: return {256, 84};
    case GgmlType::kQ3_K: return {256, 110};
    case GgmlType::kQ4_K: return {256, 144};
    case GgmlType::kQ5_K: return {256, 176};
    case GgmlType::kQ6_K: return {256, 210};
    case GgmlType::kQ8_K: return {256, 292};
  }
  throw std::invalid_argument(fmt::format("unknown ggml type {}", type));
}

void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void dequant_q4_k(const uint8_t* b, float* y) {
  const float d = half_at(b);
  const float dmin = half_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  int is = 0;
  for (int j = 0; j < 256; j += 64) {
    uint8_t sc, m;
    get_scale_min_k4(is + 0, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    get_scale_min_k4(is + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    q += 32;
    is += 2;
  }
}

void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half_at(b + 208);
  for (int n = 0; n < 256; n += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = static_cast<int>((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = static_cast<int>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = static_cast<int>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = static_cast<int>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l + 0] = d * sc[is + 0] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

}  // namespace

std::string ggml_type_name(uint32_t type) {
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32: return "F32";
    case GgmlType::kF16: return "F16";
    case GgmlType::kBF16: return "BF16";
    case GgmlType::kQ4_0: return "Q4_0";
    case GgmlType::kQ4_1: return "Q4_1";
    case GgmlType::kQ5_0: return "Q5_0";
    case GgmlType::kQ5_1: return "Q5_1";
    case GgmlType::kQ8_0: return "Q8_0";
    case GgmlType::kQ8_1: return "Q8_1";
    case GgmlType::kQ2_K: return "Q2_K";
    case GgmlType::kQ3_K: return "Q3_K";
    case GgmlType::kQ4_K: return "Q4_K";
    case GgmlType::kQ5_K: return "Q5_K";
    case GgmlType::kQ6_K: return "Q6_K";
    case GgmlType::kQ8_K: return "Q8_K";
  }
  return fmt::format("type {}", type);
}

uint64_t ggml_nbytes(uint32_t type, int64_t n) {
  const BlockLayout l = block_layout(type);
  if (n % l.values != 0) {
    throw std::invalid_argument(fmt::format("{} values is not a multiple of the {} block size {}", n,
                                            ggml_type_name(type), l.values));
  }
  return static_cast<uint64_t>(n / l.values * l.bytes);
}

void dequantize_row(uint32_t type, const uint8_t* src, float* dst, int64_t n) {
  const BlockLayout layout = block_layout(type);
  const int64_t nb = n / layout.values;
  switch (static_cast<GgmlType>(type)) {
    case GgmlType::kF32:
      if (n > 0) std::memcpy(dst, src, n * 4);
      return;
    case GgmlType::kF16:
      for (int64_t j = 0; j < n; ++j) dst[j] = half_at(src + 2 * j);
      return;
    case GgmlType::kBF16:
      for (int64_t j = 0; j < n; ++j) {
        uint16_t bits;
        std::memcpy(&bits, src + 2 * j, 2);
        dst[j] = static_cast<float>(c10::BFloat16(bits, c10::BFloat16::from_bits()));
      }
      return;
    case GgmlType::kQ8_0:
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = src + b * 34;
        const float d = half_at(blk);
        const int8_t* q = reinterpret_cast<const int8_t*>(blk + 2);
        for (int j = 0; j < 32; ++j) dst[b * 32 + j] = d * q[j];
      }
      return;
    case GgmlType::kQ4_0:
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = src + b * 18;
        const float d = half_at(blk);
        const uint8_t* q = blk + 2;
        for (int j = 0; j < 16; ++j) {
          dst[b * 32 + j] = d * (static_cast<int>(q[j] & 0xF) - 8);
          dst[b * 32 + j + 16] = d * (static_cast<int>(q[j] >> 4) - 8);
        }
      }
      return;
    case GgmlType::kQ4_1:
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = src + b * 20;
        const float d = half_at(blk);
        const float m = half_at(blk + 2);
        const uint8_t* q = blk + 4;
        for (int j = 0; j < 16; ++j) {
          dst[b * 32 + j] = d * (q[j] & 0xF) + m;
          dst[b * 32 + j + 16] = d * (q[j] >> 4) + m;
        }
      }
      return;
    case GgmlType::kQ4_K:
      for (int64_t b = 0; b < nb; ++b) dequant_q4_k(src + b * 144, dst + b * 256);
      return;
    case GgmlType::kQ6_K:
      for (int64_t b = 0; b < nb; ++b) dequant_q6_k(src + b * 210, dst + b * 256);
      return;
    default:
      break;
  }
  throw std::invalid_argument(fmt::format("dequantisation of {} is not supported (supported: F32, "
                                          "F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K)",
                                          ggml_type_name(type)));
}

}  // namespace seer::io
