// Runs an experiment: composes its config, validates every stage's sections before anything runs,
// creates runs/<experiment>/<name>/ with the resolved config.yaml, the overrides and log.txt, then
// runs the stages in order. A stage whose folder holds a `.done` marker with the same config hash
// is skipped, so re-running the same command resumes an interrupted pipeline.
#pragma once

#include "core/config/compose.h"

#include <filesystem>
#include <string>
#include <vector>

namespace seer::experiments {

// One entry of an experiment's `stages:` list: `- capture` or `- {stage: eval_ppl, id: ppl}`.
struct StageEntry {
  std::string stage;
  std::string id;
};

std::vector<StageEntry> parse_stage_list(const config::ConfigTree& tree);

// Checks top-level keys (known sections only) and runs each stage's validate().
void validate_experiment(const config::ConfigTree& tree);

struct RunResult {
  std::filesystem::path run_dir;
  int stages_run = 0;
  int stages_skipped = 0;
};

RunResult run_experiment(const config::ComposedConfig& composed, const std::string& experiment);

// Folder name for a run: `run.name` when set, else "default" for no overrides, else the
// overrides joined (Hydra's override dirname), so the same command lands in the same folder.
std::string run_name_for(const config::ComposedConfig& composed);

// FNV-1a 64 of text, as 16 hex digits (stable across builds, unlike std::hash).
std::string stable_hash(const std::string& text);

}  // namespace seer::experiments
