// Standalone driver of the kernel benchmark (experiments/bench_kernels_lib.h) for the GPU machine
// until the `bench_kernels` stage wraps it: scripts/gpu-check.sh compiles it by hand against
// build-gpu's libraries. Usage: bench_kernels OUT.json [seqs=8192,32768] [variants=AB] [reps=N]
//   [keeps=1,0.5] [nopeers] [nomaxpool] [nogate]
#include "experiments/bench_kernels_lib.h"

#include <fmt/format.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fprintf(stderr, "usage: %s OUT.json [seqs=8192,...] [variants=ABC] [reps=N] [keeps=1,0.5] [nopeers] [nomaxpool] [nogate]\n", argv[0]);
      return 2;
    }
    seer::experiments::KernelBenchConfig cfg;
    std::string command = argv[0];
    for (int i = 2; i < argc; ++i) {
      const std::string a = argv[i];
      command += " " + a;
      auto list = [&](const std::string& v) {
        std::vector<std::string> out;
        std::stringstream ss(v);
        std::string item;
        while (std::getline(ss, item, ',')) out.push_back(item);
        return out;
      };
      if (a.rfind("seqs=", 0) == 0) {
        cfg.seqs.clear();
        for (const auto& s : list(a.substr(5))) cfg.seqs.push_back(std::stoll(s));
      } else if (a.rfind("keeps=", 0) == 0) {
        cfg.keeps.clear();
        for (const auto& s : list(a.substr(6))) cfg.keeps.push_back(std::stod(s));
      } else if (a.rfind("variants=", 0) == 0) {
        cfg.variants = a.substr(9);
      } else if (a.rfind("reps=", 0) == 0) {
        cfg.reps = std::stoi(a.substr(5));
      } else if (a == "nopeers") {
        cfg.peers = false;
      } else if (a == "nomaxpool") {
        cfg.maxpool = false;
      } else if (a == "nogate") {
        cfg.gate_masks = false;
      } else {
        throw std::runtime_error("unknown argument: " + a);
      }
    }
    const auto rows = seer::experiments::run_kernel_benchmark(
        cfg, [](const std::string& line) { fmt::print("{}\n", line); std::fflush(stdout); });
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    const char* git = std::getenv("SEER_GIT");
    std::ofstream(argv[1]) << seer::experiments::kernel_bench_json(
        rows, seer::experiments::cuda_device_name(), date, command, git ? git : "unknown");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels: %s\n", e.what());
    return 1;
  }
}
