// A stage is one step of an experiment pipeline (capture, distill, eval_ppl, ...). The runner
// gives it the resolved config and a folder; the stage parses the typed sections it needs through
// config::ConfigReader, writes its outputs into ctx.stage_dir, and returns. The runner writes the
// `.done` marker (with the hash of the config) after run() returns, so a stage whose outputs are
// complete is skipped on the next `seer run` and an interrupted pipeline resumes.
//
// Under several processes (`seer launch`, torchrun, srun) a data-parallel stage runs on every rank
// and shards its own work through ctx.world; any other stage runs on rank 0 alone while the others
// wait. Only rank 0 writes to the run folder.
#pragma once

#include "core/config/config_tree.h"
#include "core/dist/world.h"
#include "experiments/progress.h"

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace seer::experiments {

struct StageContext {
  const config::ConfigTree& config;      // the fully resolved experiment config
  std::filesystem::path run_dir;         // runs/<experiment>/<name>/
  std::filesystem::path stage_dir;       // run_dir / <stage id>/, created by the runner
  std::string stage_id;                  // the stage's id in the pipeline (usually its name)
  Logger& log;                           // console + run_dir/log.txt (console only on ranks > 0)
  const core::dist::World& world = core::dist::World::single();   // the run's processes
  // Folder of another stage of the same run (e.g. distill reads capture's file).
  std::filesystem::path stage_path(const std::string& other_stage_id) const {
    return run_dir / other_stage_id;
  }
  // Gates named by a config key: another stage of this run that wrote gates/ (e.g. "distill"),
  // else a folder path (relative to the project root) holding gates.json + gates.safetensors.
  std::filesystem::path gates_path(const std::string& stage_or_path) const;
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string name() const = 0;          // registry name, e.g. "eval_ppl"
  virtual std::string summary() const = 0;       // one line for `seer list` / --help
  // Config sections this stage reads (for `seer show` docs and validation before running).
  virtual std::vector<std::string> sections() const = 0;
  // Keys of those sections ("section.key") that cannot change the outputs (e.g. how many threads
  // share the work): left out of the stage's hash, so changing them resumes instead of
  // starting over.
  virtual std::vector<std::string> unhashed_keys() const { return {}; }
  // True when run() shards its work over ctx.world's ranks (every rank runs it, rank 0 alone
  // writes); false: under several processes rank 0 runs it alone and the others wait.
  virtual bool data_parallel() const { return false; }
  // Parses every section it reads and throws ConfigError on a bad one, without running
  // anything heavy. The runner validates all stages before the first one runs.
  virtual void validate(const config::ConfigTree& config) const = 0;
  // What the config asks of the world outside it: the files the stage reads from outside the run
  // exist (the checkpoint, the corpus; experiments/stage_inputs.h) and can do what is asked (no
  // context longer than the model's positions). Reads headers and folder listings, never weights
  // or text. `seer run` calls it for the stages it will run, after every validate() and before it
  // creates anything (`seer show` does not: a config can be shown without its files). Throws
  // naming the key; returns warnings for the run's log.
  virtual std::vector<std::string> check_inputs(const config::ConfigTree& /*config*/) const {
    return {};
  }
  virtual void run(StageContext& ctx) = 0;
};

using StageFactory = std::function<std::unique_ptr<Stage>()>;

// Explicit registration (experiments/stage_registry.cpp lists every stage).
void register_stage(const std::string& name, StageFactory factory);
std::unique_ptr<Stage> make_stage(const std::string& name);
std::vector<std::string> registered_stages();

}  // namespace seer::experiments
