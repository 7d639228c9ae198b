// Small helpers shared by the gates tests.
#pragma once

#include "catch.h"
#include "core/gate/attn_gate.h"
#include "core/sparsity/block_mask.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace seer::gates_test {

// HF default RoPE in float64 on the first r channels of a vector v [d] at position p (frequencies
// of dim r, rotate-half pairs (i, i + r/2)); channels [r, d) pass unchanged. r = 0 means r = d.
inline std::vector<double> rope_ref(const std::vector<double>& v, double p, double theta, size_t r = 0) {
  if (r == 0) r = v.size();
  std::vector<double> out = v;
  for (size_t i = 0; i < r / 2; ++i) {
    const double f = p * std::pow(theta, -2.0 * i / r);
    out[i] = v[i] * std::cos(f) - v[i + r / 2] * std::sin(f);
    out[i + r / 2] = v[i + r / 2] * std::cos(f) + v[i] * std::sin(f);
  }
  return out;
}

// The model RoPE the gate tests use: default kind at `theta`, positions far beyond any test's.
inline core::GateRope default_rope(double theta) {
  core::GateRope r;
  r.rope.theta = theta;
  r.max_position_embeddings = 1 << 20;
  return r;
}

// Block geometry of `B` sequences x `heads` query heads, `sq` queries against `sk` keys in blocks
// of `b` (CPU unless `device` says otherwise).
inline core::BlockGeometry geometry(int64_t sq, int64_t sk, int64_t b = 4, int64_t heads = 1,
                                    int64_t B = 1, at::Device device = at::kCPU) {
  core::BlockGeometry g;
  g.batch = B;
  g.heads = heads;
  g.block = b;
  g.sq = sq;
  g.sk = sk;
  g.device = device;
  return g;
}

using seer::test::error_message;   // tests/catch.h

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// A fresh folder under this binary's scratch dir.
inline std::filesystem::path fresh_dir(const std::string& name) {
  std::filesystem::path p = std::filesystem::path(SEER_TEST_TMP) / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p;
}

// Runs `<venv python> <repo>/<script> <args>` and returns stdout + stderr.
inline std::string run_python(const std::string& script, const std::string& args) {
  const std::string cmd = std::string(SEER_TEST_PYTHON) + " " + SEER_SOURCE_DIR + "/" + script +
                          " " + args + " 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
  }
  return out;
}

}  // namespace seer::gates_test
