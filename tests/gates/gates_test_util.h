// Small helpers shared by the gates tests.
#pragma once

#include "core/sparsity/block_mask.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace seer::gates_test {

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

// The message of the exception `f` throws ("<no error>" when it returns).
template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

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
