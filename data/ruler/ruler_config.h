// The `ruler` config section: which tasks at which lengths, how many samples, and where the
// definitions and optional datasets are.
//
//   ruler:
//     tasks: [niah_single_1, vt]      # default: all tasks in tasks.yaml
//     lengths: [4096, 8192]
//     num_samples: 10
//     seed: 42
//     chat_wrapper: base              # a key of tasks.yaml chat_wrappers
//     essay_path: ../shared/data/ruler/PaulGrahamEssays.json   # optional; .json or .txt
//     squad_path: null                # optional, qa_1
//     hotpotqa_path: null             # optional, qa_2
#pragma once

#include "core/config/config_reader.h"
#include "data/ruler/ruler_generate.h"

#include <cstdint>
#include <string>
#include <vector>

namespace seer::data {

struct RulerSpec {
  std::vector<std::string> tasks;   // empty = all
  std::vector<int64_t> lengths;
  int64_t num_samples = 10;
  uint64_t seed = 42;
  std::string chat_wrapper = "base";
  RulerResources resources;         // resolved absolute paths, "" when not set
  std::string tasks_yaml;           // default configs/benchmarks/ruler/tasks.yaml
  std::string words_dir;            // default configs/benchmarks/ruler/words
};

RulerSpec parse_ruler_spec(const config::ConfigReader& r);

}  // namespace seer::data
