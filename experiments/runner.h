// Runs an experiment: composes its config, validates every stage's sections and checks the inputs
// of the stages it will run (Stage::check_inputs) before anything is created, then creates
// runs/<experiment>/<name>/, locks it (run_lock.h: one run per folder), writes the resolved
// config.yaml, the overrides and log.txt, and runs the stages in order. A stage whose folder holds
// a `.done` marker with the same config hash is skipped, so re-running the same command resumes an
// interrupted pipeline. A failed run's log.txt ends with the error line `seer` prints.
#pragma once

#include "core/config/compose.h"
#include "core/dist/world.h"

#include <filesystem>
#include <string>
#include <vector>

namespace seer::experiments {

// One entry of an experiment's `stages:` list: `- capture`, `- {stage: eval_ppl, id: ppl}`, or
// with overrides of its own, in the command line's grammar (core/config/override.h):
//   - {stage: distill, id: distill_baseline, overrides: [train.steps=200, gate=small]}
struct StageEntry {
  std::string stage;
  std::string id;
  std::vector<std::string> overrides;
};

std::vector<StageEntry> parse_stage_list(const config::ConfigTree& tree);

// Where an entry's overrides were written, as errors and key sources name it:
// "<experiment file>: stages.<id>.overrides".
std::string stage_override_origin(const config::ConfigTree& tree, const StageEntry& entry);

// The config the stage of `entry` sees: the run's config, or for an entry with overrides the
// experiment composed again with the command line's overrides and then the entry's (so `gate=small`
// picks another group file and the config's `${...}` resolve against the overridden values; a
// `${...}` written in an override itself resolves against the run's config). The stage's
// validation and its resume hash use this config. ConfigError naming the stage id and the override
// when an override is malformed, fails, or touches a section the stage does not read.
config::ConfigTree stage_config(const config::ComposedConfig& composed, const StageEntry& entry);

// For `seer show`: per entry with overrides a line "stage <id> (<stage>) overrides: ...", then one
// line per key of the sections it reads that its config has differently from the run's
// ("  train.steps: 200 (run: 500)").
std::vector<std::string> stage_override_lines(const config::ComposedConfig& composed);

// Checks top-level keys (known sections only) and runs each stage's validate() on its own config.
void validate_experiment(const config::ComposedConfig& composed);
// The same on a bare tree: entries with overrides are validated without them (their overrides
// need the compose request; run_experiment and `seer show` check them through the overload above).
void validate_experiment(const config::ConfigTree& tree);

struct RunResult {
  std::filesystem::path run_dir;
  int stages_run = 0;
  int stages_skipped = 0;
};

// `stages=[a, b]` on the command line naming ids of the experiment's own list runs only those
// stages: `full` is the experiment composed without that override (its run folder, config.yaml,
// validation of every section and the resume hashes of every stage are those of the whole
// experiment), `only` the ids to run. They read what the other stages left in that folder (the
// run log says which of those are not complete for the config), so a subset reuses what the
// whole experiment produced, or inputs named elsewhere (gates=<another run's folder>). A
// `stages=` list naming any other stage (or entries with overrides) replaces the experiment's
// list as any override does: `only` is then empty and `full` is `composed`.
struct StageSelection {
  config::ComposedConfig full;
  std::vector<std::string> only;   // empty: every stage of full
};
StageSelection select_stages(const config::ComposedConfig& composed);

// Runs `composed`'s stages, or only the ids in `only` (see select_stages), as one rank of `world`:
// rank 0 decides which stages run, writes the run folder and tells the other ranks through the
// rendezvous store; a data-parallel stage (Stage::data_parallel) runs on every rank, any other on
// rank 0 alone while the rest wait. Ranks > 0 write nothing.
RunResult run_experiment(const config::ComposedConfig& composed, const std::string& experiment,
                         const std::vector<std::string>& only = {},
                         const core::dist::World& world = core::dist::World::single());

// Folder name for a run: `run.name` when set, else "default" for no overrides, else the
// overrides joined (Hydra's override dirname), so the same command lands in the same folder.
std::string run_name_for(const config::ComposedConfig& composed);

// FNV-1a 64 of text, as 16 hex digits (stable across builds, unlike std::hash).
std::string stable_hash(const std::string& text);

}  // namespace seer::experiments
