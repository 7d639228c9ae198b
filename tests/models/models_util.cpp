#include "models_util.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>

namespace seer::test {
namespace fs = std::filesystem;

std::string scratch_dir(const std::string& name) {
  // Shell rm/mkdir: std::filesystem::remove_all binds to libtorch.so's bundled copy and crashes.
  const std::string p = std::string(SEER_TEST_TMP) + "/" + name;
  if (std::system(fmt::format("rm -rf '{}' && mkdir -p '{}'", p, p).c_str()) != 0) {
    throw std::runtime_error("cannot create scratch folder " + p);
  }
  return p;
}

bool have_python() { return fs::exists(SEER_TEST_PYTHON); }

bool run_python_script(const std::string& script, const std::string& args) {
  const std::string cmd = fmt::format("'{}' '{}/tests/models/{}' {}", SEER_TEST_PYTHON, SEER_SOURCE_DIR,
                                      script, args);
  return std::system(cmd.c_str()) == 0;
}

std::string embedded_gguf_path() {
  fs::path p = fs::path(SEER_SOURCE_DIR) / "assets/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  return fs::exists(p) ? p.string() : "";
}

uint64_t fresh_seed() {
  static std::mt19937_64 gen(std::random_device{}() ^
                             static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  return gen() % 1000000;
}

const std::string& hf_fixture_root() {
  static const std::string root = [] {
    if (!have_python()) return std::string();
    const std::string dir = scratch_dir("hf_fixtures");
    const uint64_t seed = fresh_seed();
    fmt::print("make_hf_fixtures.py seed {}\n", seed);
    if (!run_python_script("make_hf_fixtures.py", fmt::format("'{}' {} > '{}/log.txt' 2>&1", dir, seed, dir))) {
      throw std::runtime_error(fmt::format("make_hf_fixtures.py failed; see {}/log.txt", dir));
    }
    return dir;
  }();
  return root;
}

double max_rel_error(const at::Tensor& a, const at::Tensor& b, double floor) {
  at::Tensor a64 = a.to(at::kDouble), b64 = b.to(at::kDouble);
  at::Tensor denom = at::clamp_min(b64.abs(), floor);
  return ((a64 - b64).abs() / denom).max().item<double>();
}

}  // namespace seer::test
