#include "experiments/cli.h"

#include "core/config/compose.h"
#include "core/config/config_error.h"
#include "core/config/paths.h"
#include "core/dist/world.h"
#include "experiments/gates_command.h"
#include "experiments/launch.h"
#include "experiments/runner.h"
#include "experiments/stage.h"
#include "experiments/stage_list.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>

namespace fs = std::filesystem;

namespace seer::experiments {
namespace {

constexpr const char* kMainHelp = R"(seer - learned block-sparse attention (SeerAttention) experiments

Usage:
  seer list                          experiments and what each does
  seer show EXPERIMENT [OVERRIDES]   print the fully resolved config (nothing runs)
  seer run EXPERIMENT [OVERRIDES]    run the experiment's stages into runs/EXPERIMENT/NAME/
  seer launch --nproc N run ...      the same in N processes (data-parallel distillation)
  seer stages                        the stages experiments are built from
  seer gates inspect|export|import   gate folders: Seer's layout <-> the reference's
  seer help COMMAND | EXPERIMENT     more about a command, or an experiment's config

Options (before the command):
  --config-dir DIR                   configs folder (default: $SEER_CONFIG_DIR or <repo>/configs)

Overrides (Hydra style, applied after the experiment's defaults):
  eval.context=4096                  set an existing key (value parsed as YAML)
  model=smollm2                      choose another file of a group (configs/model/smollm2.yaml)
  +train.tag=a                       add a key (or +group=option to add a group)
  ++train.tag=a                      add or set
  ~sparsity                          delete a key, or drop a group from the defaults

Environment:
  RANK, WORLD_SIZE, LOCAL_RANK,      set by `seer launch`, torchrun or srun (SLURM_PROCID,
  MASTER_ADDR, MASTER_PORT             SLURM_NTASKS, SLURM_LOCALID): this process is one rank
  SEER_RENDEZVOUS_TIMEOUT            seconds ranks wait for each other to start (default 300)
  SEER_DIST_BACKEND                  gloo | nccl (default: nccl when train.device is cuda)

Examples:
  seer run quickstart
  seer run eval_ppl model=smollm2 data=embedded_books eval.context=1024 eval.max_tokens=8192
  seer show quickstart train.steps=50
)";

constexpr const char* kRunHelp = R"(seer run EXPERIMENT [OVERRIDES]

Composes configs/experiment/EXPERIMENT.yaml with its defaults and your overrides, checks every
section and the inputs of the stages to run (checkpoint, corpus, contexts against the model's
positions) before anything is created, then runs its stages in order into runs/EXPERIMENT/NAME/:
  config.yaml     the resolved config (exactly what ran)
  overrides.yaml  the overrides you typed
  log.txt         the console output (a failed run's ends with the error)
  .lock           held while a run uses the folder: a second run there fails, naming the PID
  <stage>/        each stage's outputs, and `.done` once complete
NAME is run.name when set, else `default` without overrides, else the overrides joined. Running
the same command again skips stages whose outputs are complete and resumes an interrupted one
(capture appends, distill continues from its last checkpoint). A stage whose config changed, or
that follows one that ran again, starts afresh; its old outputs move to <stage>.previous/.
Set run.seed for a different seed (default 0).
Under several processes (`seer launch`, torchrun, srun; `seer help launch`) every rank runs this
command: distillation is data-parallel, the other stages run on rank 0 while the others wait, and
only rank 0 writes the run folder.
stages=[ID, ...] naming stages of the experiment runs only those, in the folder the other
overrides name (the stage list is left out of NAME): e.g. after `seer run paper_ppl`,
`seer run paper_ppl stages=[sweep] sweep.max_tokens=65536 +run.name=default` scores again with the
gates trained there. Every section is still checked; the log says which stages before the
selected ones are not complete for the config.
)";

constexpr const char* kShowHelp = R"(seer show EXPERIMENT [OVERRIDES]

Prints the fully resolved YAML (defaults merged, overrides applied, ${...} resolved) and the
group choices, and checks every section the way `seer run` would (not the files they name: a
config can be shown without its checkpoint). Nothing runs and nothing is written.
)";

constexpr const char* kListHelp = R"(seer list

Lists the experiments in configs/experiment/ with their descriptions.
)";

struct Parsed {
  fs::path config_dir;
  std::vector<std::string> rest;
};

// A configs folder the user named must be there: otherwise `seer list` prints no experiments and
// `seer run` says only that the experiment's file is missing.
void check_config_dir(const fs::path& dir, const std::string& named_by) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return;
  throw std::invalid_argument(fmt::format(
      "{} {}: {}; expected the configs folder (holding experiment/, model/, data/, ...)", named_by,
      dir.string(), fs::exists(dir, ec) ? "not a folder" : "no such folder"));
}

Parsed parse_global(const std::vector<std::string>& args) {
  Parsed p;
  p.config_dir = config::config_dir();
  std::string named_by;
  if (const char* env = std::getenv("SEER_CONFIG_DIR"); env != nullptr && *env != '\0')
    named_by = "$SEER_CONFIG_DIR =";
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config-dir") {
      if (i + 1 >= args.size()) throw std::invalid_argument("--config-dir needs a folder");
      p.config_dir = fs::absolute(args[++i]);
      named_by = "--config-dir";
    } else if (args[i].rfind("--config-dir=", 0) == 0) {
      p.config_dir = fs::absolute(args[i].substr(13));
      named_by = "--config-dir";
    } else {
      p.rest.push_back(args[i]);
    }
  }
  if (!named_by.empty()) check_config_dir(p.config_dir, named_by);
  return p;
}

bool wants_help(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") return true;
  return false;
}

std::string experiment_description(const fs::path& file) {
  try {
    const auto n = YAML::LoadFile(file.string());
    if (n["description"]) return n["description"].as<std::string>();
  } catch (const YAML::Exception& e) {
    return fmt::format("(malformed YAML: {})", e.msg);
  }
  return "";
}

int cmd_list(const fs::path& dir) {
  const auto names = config::list_group_options(dir, "experiment");
  if (names.empty()) {
    fmt::print("no experiments in {}\n", (dir / "experiment").string());
    return 0;
  }
  size_t width = 0;
  for (const auto& n : names) width = std::max(width, n.size());
  for (const auto& n : names) {
    fmt::print("  {:<{}}  {}\n", n, width,
               experiment_description(dir / "experiment" / (n + ".yaml")));
  }
  return 0;
}

config::ComposedConfig compose_from(const fs::path& dir, const std::vector<std::string>& rest) {
  if (rest.empty()) throw std::invalid_argument("missing EXPERIMENT (see `seer list`)");
  config::ComposeRequest req;
  req.config_dir = dir;
  req.experiment = rest.front();
  req.overrides.assign(rest.begin() + 1, rest.end());
  return config::compose(req);
}

int cmd_show(const fs::path& dir, const std::vector<std::string>& rest) {
  const auto selection = select_stages(compose_from(dir, rest));
  const auto& composed = selection.full;
  // A config that `seer run` would refuse is never printed as if it were fine.
  validate_experiment(composed);
  fmt::print("# experiment: {}\n", composed.experiment_file.string());
  for (const auto& [group, option] : composed.choices) fmt::print("# {}={}\n", group, option);
  if (!selection.only.empty()) fmt::print("# runs only: {}\n", fmt::join(selection.only, ", "));
  fmt::print("{}", composed.tree.to_yaml());
  // Stages with overrides of their own: what they see differently from the config above.
  for (const auto& line : stage_override_lines(composed)) fmt::print("# {}\n", line);
  return 0;
}

// The device the collectives of a data-parallel stage work on: where the gates train.
std::string training_device(const config::ConfigTree& tree) {
  for (const char* key : {"train.device", "model.device"}) {
    const auto node = tree.at(key);
    if (node.IsDefined() && node.IsScalar()) return node.Scalar();
  }
  return "cpu";
}

int cmd_run(const fs::path& dir, const std::vector<std::string>& rest) {
  const auto env = core::dist::read_dist_env();
  const auto selection = select_stages(compose_from(dir, rest));
  if (!env.distributed()) {
    run_experiment(selection.full, rest.front(), selection.only);
    return 0;
  }
  validate_experiment(selection.full);   // before meeting the other ranks: a typo fails at once
  const auto world = core::dist::World::connect(
      env, core::dist::choose_backend(training_device(selection.full.tree)));
  run_experiment(selection.full, rest.front(), selection.only, *world);
  return 0;
}

int cmd_stages() {
  for (const auto& name : registered_stages()) {
    auto s = make_stage(name);
    fmt::print("  {:<16} {}\n                   reads: {}\n", name, s->summary(),
               fmt::join(s->sections(), ", "));
  }
  return 0;
}

int cmd_help(const fs::path& dir, const std::vector<std::string>& rest) {
  if (rest.empty()) {
    fmt::print("{}", kMainHelp);
    return 0;
  }
  const auto& topic = rest.front();
  if (topic == "run") fmt::print("{}", kRunHelp);
  else if (topic == "show") fmt::print("{}", kShowHelp);
  else if (topic == "list") fmt::print("{}", kListHelp);
  else if (topic == "gates") fmt::print("{}", kGatesHelp);
  else if (topic == "launch") fmt::print("{}", kLaunchHelp);
  else if (topic == "stages") fmt::print("seer stages\n\nLists every stage with the config sections it reads.\n");
  else {
    const auto file = dir / "experiment" / (topic + ".yaml");
    if (!fs::exists(file)) {
      throw std::invalid_argument(fmt::format("no command or experiment named '{}'", topic));
    }
    fmt::print("{}: {}\n\n", topic, experiment_description(file));
    fmt::print("Resolved config (override any key on the command line):\n\n");
    return cmd_show(dir, {topic});
  }
  return 0;
}

}  // namespace

int run_cli(const std::vector<std::string>& args) {
  register_builtin_stages();
  const auto p = parse_global(args);
  if (p.rest.empty() || p.rest.front() == "--help" || p.rest.front() == "-h") {
    fmt::print("{}", kMainHelp);
    return p.rest.empty() ? 2 : 0;
  }
  const std::string cmd = p.rest.front();
  const std::vector<std::string> rest(p.rest.begin() + 1, p.rest.end());
  if (cmd == "help") return cmd_help(p.config_dir, rest);
  if (wants_help(rest)) return cmd_help(p.config_dir, {cmd});
  if (cmd == "list") return cmd_list(p.config_dir);
  if (cmd == "show") return cmd_show(p.config_dir, rest);
  if (cmd == "run") return cmd_run(p.config_dir, rest);
  if (cmd == "stages") return cmd_stages();
  if (cmd == "gates") return run_gates_command(rest);
  if (cmd == "launch") return run_launch_command(p.config_dir, rest);
  throw std::invalid_argument(fmt::format(
      "unknown command '{}' (commands: list, show, run, launch, stages, gates, help)", cmd));
}

}  // namespace seer::experiments
