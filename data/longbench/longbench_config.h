// The `longbench` config section: where the LongBench JSONL files are, which datasets, the
// prompt window and whether these are LongBench-E files.
//
//   longbench:
//     data_dir: /data/LongBench/data   # <dataset>.jsonl (or <dataset>_e.jsonl with e: true)
//     datasets: [qasper, hotpotqa]     # default: all 21
//     e: false
//     max_length: 31500                # prompt window in tokens (middle truncation)
//     max_samples: 0                   # per dataset; 0 = all
#pragma once

#include "core/config/config_reader.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace seer::data {

struct LongBenchSpec {
  std::string data_dir;
  std::vector<std::string> datasets;   // never empty after parsing
  bool longbench_e = false;
  int64_t max_length = 0;
  int64_t max_samples = 0;
  std::string definitions_dir;         // default configs/benchmarks/longbench
};

LongBenchSpec parse_longbench_spec(const config::ConfigReader& r);

// <data_dir>/<dataset>.jsonl, or <dataset>_e.jsonl for LongBench-E.
std::filesystem::path longbench_file(const LongBenchSpec& spec, const std::string& dataset);

}  // namespace seer::data
