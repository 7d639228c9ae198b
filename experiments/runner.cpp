#include "experiments/runner.h"

#include "analysis/run_info.h"

#include "core/config/config_error.h"
#include "core/config/config_reader.h"
#include "core/config/override.h"
#include "core/config/paths.h"
#include "core/io/atomic_file.h"
#include "core/io/remove_tree.h"
#include "experiments/error_line.h"
#include "experiments/progress.h"
#include "experiments/run_lock.h"
#include "experiments/stage.h"

#include <ATen/Context.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <set>

namespace fs = std::filesystem;

namespace seer::experiments {
namespace {

// Top-level keys every experiment may have besides the stages' sections.
const std::set<std::string> kGlobalKeys = {"name", "description", "stages", "run", "paths"};

struct RunSection {
  std::string name;
  std::string dir = "runs";
  int64_t seed = 0;
};

RunSection parse_run_section(const config::ConfigTree& tree) {
  RunSection r;
  if (!tree.has("run")) return r;
  config::ConfigReader reader(tree, "run");
  r.name = reader.get<std::string>("name", "");
  r.dir = reader.get<std::string>("dir", r.dir);
  r.seed = reader.get<int64_t>("seed", r.seed);
  reader.finish();
  return r;
}

std::string section_yaml(const config::ConfigTree& tree, const std::vector<std::string>& sections,
                         const std::vector<std::string>& unhashed) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  for (const auto& s : sections) {
    const YAML::Node n = tree.at(s);   // const: lookups never add keys to the tree
    if (!n.IsDefined()) continue;
    std::vector<std::string> drop;
    for (const auto& key : unhashed) {
      const std::string child = key.rfind(s + ".", 0) == 0 ? key.substr(s.size() + 1) : "";
      if (!child.empty() && n.IsMap() && n[child]) drop.push_back(child);
    }
    if (drop.empty()) {
      out << YAML::Key << s << YAML::Value << n;
      continue;
    }
    YAML::Node copy = YAML::Clone(n);
    for (const auto& child : drop) copy.remove(child);
    out << YAML::Key << s << YAML::Value << copy;
  }
  out << YAML::EndMap;
  return out.c_str();
}

}  // namespace

std::filesystem::path StageContext::gates_path(const std::string& stage_or_path) const {
  const fs::path from_stage = stage_path(stage_or_path) / "gates";
  if (fs::exists(from_stage)) return from_stage;
  return config::resolve_project_path(stage_or_path);
}

std::string stable_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

std::vector<StageEntry> parse_stage_list(const config::ConfigTree& tree) {
  const auto node = tree.at("stages");
  const auto source = tree.source_of("stages");
  if (!node.IsDefined() || !node.IsSequence() || node.size() == 0) {
    throw config::ConfigError(source, "stages", node.IsDefined() ? "..." : "<missing>",
                              "expected a non-empty list of stage names");
  }
  std::vector<StageEntry> out;
  std::set<std::string> ids;
  for (const auto& item : node) {
    StageEntry e;
    if (item.IsScalar()) {
      e.stage = e.id = item.Scalar();
    } else if (item.IsMap() && item["stage"] && item["stage"].IsScalar()) {
      e.stage = item["stage"].Scalar();
      e.id = item["id"] && item["id"].IsScalar() ? item["id"].Scalar() : e.stage;
      for (const auto& kv : item) {
        const auto key = kv.first.as<std::string>();
        if (key != "stage" && key != "id" && key != "overrides")
          throw config::ConfigError(source, "stages." + e.id + "." + key, "...",
                                    "unknown key of a stage entry (expected stage, id, overrides)");
      }
      if (const auto ov = item["overrides"]) {
        if (!ov.IsSequence())
          throw config::ConfigError(source, "stages." + e.id + ".overrides", "...",
                                    "expected a list of overrides, e.g. [train.steps=200]");
        for (const auto& o : ov) {
          if (!o.IsScalar())
            throw config::ConfigError(source, "stages." + e.id + ".overrides", "...",
                                      "each override is one string, e.g. train.steps=200");
          e.overrides.push_back(o.Scalar());
        }
      }
    } else {
      throw config::ConfigError(source, "stages", "",
                                "each entry is a stage name or {stage: NAME, id: ID, overrides: "
                                "[...]}");
    }
    if (!ids.insert(e.id).second) {
      throw config::ConfigError(source, "stages", e.id,
                                "duplicate stage id; give repeated stages distinct `id`s");
    }
    out.push_back(e);
  }
  return out;
}

std::string stage_override_origin(const config::ConfigTree& tree, const StageEntry& entry) {
  return fmt::format("{}: stages.{}.overrides", tree.source_of("stages"), entry.id);
}

config::ConfigTree stage_config(const config::ComposedConfig& composed, const StageEntry& entry) {
  if (entry.overrides.empty()) return composed.tree.clone();
  const std::string origin = stage_override_origin(composed.tree, entry);
  const auto stage = make_stage(entry.stage);
  const auto sections = stage->sections();
  for (const auto& o : config::parse_overrides(entry.overrides, origin)) {
    const std::string section = config::split_key_path(o.key).front();
    if (std::find(sections.begin(), sections.end(), section) == sections.end())
      throw config::ConfigError(origin, o.text, "",
                                fmt::format("stage {} reads only {}; an override of '{}' would "
                                            "change nothing it does", entry.stage,
                                            fmt::join(sections, ", "), section));
  }
  config::ComposeRequest req;
  req.config_dir = composed.config_dir;
  req.experiment = composed.experiment_file.string();
  req.overrides = composed.overrides;
  req.stage_overrides = entry.overrides;
  req.stage_origin = origin;
  return config::compose(req).tree;
}

namespace {

std::string flow_yaml(const YAML::Node& n) {
  YAML::Emitter out;
  out << YAML::Flow << n;
  return out.c_str();
}

// Leaves of `stage` (under `path`) that differ from `run`, as "path: value (run: value)".
void diff_leaves(const YAML::Node& run, const YAML::Node& stage, const std::string& path,
                 std::vector<std::string>& out) {
  if (run.IsDefined() && run.IsMap() && stage.IsDefined() && stage.IsMap()) {
    for (const auto& kv : stage) {
      const auto key = kv.first.as<std::string>();
      diff_leaves(run[key], kv.second, path + "." + key, out);
    }
    for (const auto& kv : run) {
      const auto key = kv.first.as<std::string>();
      if (!stage[key].IsDefined()) out.push_back(fmt::format("  {}: (removed)", path + "." + key));
    }
    return;
  }
  if (!run.IsDefined() && !stage.IsDefined()) return;
  const std::string before = run.IsDefined() ? flow_yaml(run) : "(absent)";
  const std::string after = stage.IsDefined() ? flow_yaml(stage) : "(removed)";
  if (before != after) out.push_back(fmt::format("  {}: {} (run: {})", path, after, before));
}

}  // namespace

std::vector<std::string> stage_override_lines(const config::ComposedConfig& composed) {
  std::vector<std::string> lines;
  for (const auto& e : parse_stage_list(composed.tree)) {
    if (e.overrides.empty()) continue;
    const auto own = stage_config(composed, e);
    lines.push_back(fmt::format("stage {} ({}) overrides: {}", e.id, e.stage,
                                fmt::join(e.overrides, " ")));
    const YAML::Node& run_root = composed.tree.root();
    const YAML::Node& stage_root = own.root();
    for (const auto& section : make_stage(e.stage)->sections())
      diff_leaves(run_root[section], stage_root[section], section, lines);
  }
  return lines;
}

namespace {

// Unknown top-level sections, the run and paths sections, then each stage on `config_of` its entry.
template <typename ConfigOf>
void validate_entries(const config::ConfigTree& tree, ConfigOf&& config_of) {
  const auto entries = parse_stage_list(tree);
  std::set<std::string> allowed = kGlobalKeys;
  for (const auto& e : entries) {
    auto stage = make_stage(e.stage);
    for (const auto& s : stage->sections()) allowed.insert(s);
  }
  for (const auto& kv : tree.root()) {
    const auto key = kv.first.as<std::string>();
    if (!allowed.count(key)) {
      throw config::ConfigError(tree.source_of(key), key, "...",
                                fmt::format("unknown section: no stage of this experiment reads "
                                            "it (known here: {})",
                                            fmt::join(allowed, ", ")));
    }
  }
  parse_run_section(tree);
  if (tree.has("paths")) config::ConfigReader(tree, "paths");
  for (const auto& e : entries) {
    if (e.overrides.empty()) {
      make_stage(e.stage)->validate(tree);
    } else {
      const config::ConfigTree own = config_of(e);
      make_stage(e.stage)->validate(own);
    }
  }
}

}  // namespace

void validate_experiment(const config::ComposedConfig& composed) {
  validate_entries(composed.tree, [&](const StageEntry& e) { return stage_config(composed, e); });
}

void validate_experiment(const config::ConfigTree& tree) {
  validate_entries(tree, [&](const StageEntry&) { return tree.clone(); });
}

std::string run_name_for(const config::ComposedConfig& composed) {
  const auto run = parse_run_section(composed.tree);
  if (!run.name.empty()) return run.name;
  if (composed.overrides.empty()) return "default";
  std::string name;
  for (const auto& o : composed.overrides) {
    if (!name.empty()) name += ",";
    name += o;
  }
  for (char& c : name) {
    if (c == '/' || c == ' ' || c == '$' || c == '{' || c == '}' || c == '\'' || c == '"') c = '_';
  }
  if (name.size() > 80) name = name.substr(0, 60) + "-" + stable_hash(name);
  return name;
}

StageSelection select_stages(const config::ComposedConfig& composed) {
  std::vector<std::string> kept;
  bool selects = false;
  for (const auto& text : composed.overrides) {
    const auto o = config::parse_override(text);
    if (o.key == "stages" && o.kind == config::Override::Kind::kSet) {
      selects = true;
    } else {
      kept.push_back(text);
    }
  }
  if (!selects) return {composed, {}};
  config::ComposeRequest req;
  req.config_dir = composed.config_dir;
  req.experiment = composed.experiment_file.string();
  req.overrides = kept;
  auto full = config::compose(req);
  std::set<std::string> ids;
  for (const auto& e : parse_stage_list(full.tree)) ids.insert(e.id);
  std::vector<std::string> only;
  for (const auto& e : parse_stage_list(composed.tree)) {
    // A list of other stages replaces the experiment's own.
    if (!e.overrides.empty() || e.stage != e.id || !ids.count(e.id)) return {composed, {}};
    only.push_back(e.id);
  }
  return {std::move(full), std::move(only)};
}

namespace {

// What rank 0 tells the other ranks about stage i of the pipeline (through the rendezvous store):
// kSkip (complete or not selected), kAllRanks (a data-parallel stage: every rank runs it) or
// kRankZero (rank 0 runs it alone; it then publishes kDone or kFailed under result_key(i)).
constexpr const char* kSkip = "skip";
constexpr const char* kAllRanks = "all";
constexpr const char* kRankZero = "rank0";
constexpr const char* kDone = "done";
constexpr const char* kFailed = "failed";

std::string stage_key(size_t i) { return fmt::format("runner/stage/{}", i); }
std::string result_key(size_t i) { return fmt::format("runner/stage/{}/result", i); }

// The stages the run looks at: all of them, or up to the last selected one.
size_t stages_considered(const std::vector<StageEntry>& entries,
                         const std::set<std::string>& selected) {
  for (const auto& id : selected) {
    if (std::none_of(entries.begin(), entries.end(),
                     [&](const StageEntry& e) { return e.id == id; }))
      throw config::ConfigError("command line", "stages", id, "not a stage id of this experiment");
  }
  if (selected.empty()) return entries.size();
  size_t last = 0;
  for (size_t i = 0; i < entries.size(); ++i)
    if (selected.count(entries[i].id)) last = i + 1;
  return last;
}

// Ranks > 0: follow rank 0's decision for each stage, run the data-parallel ones with it, and
// write nothing (the run folder is rank 0's).
RunResult follow_rank_zero(const config::ComposedConfig& composed,
                           const std::vector<StageEntry>& entries, size_t last,
                           const fs::path& run_dir, const core::dist::World& world) {
  const auto run = parse_run_section(composed.tree);
  Logger log;
  RunResult result;
  result.run_dir = run_dir;
  for (size_t i = 0; i < last; ++i) {
    const auto& e = entries[i];
    const std::string action = world.await(stage_key(i));
    if (action == kSkip) {
      ++result.stages_skipped;
      continue;
    }
    if (action == kRankZero) {
      if (world.await(result_key(i)) != kDone)
        throw std::runtime_error(fmt::format("{}: stage {} failed on rank 0 (its output says why)",
                                             world.describe(), e.id));
      continue;
    }
    auto stage = make_stage(e.stage);
    const config::ConfigTree stage_tree = stage_config(composed, e);
    log.info("[{}/{}] {} ({}): {}", i + 1, entries.size(), e.id, world.describe(),
             stage->summary());
    at::manual_seed(static_cast<uint64_t>(run.seed));
    StageContext ctx{stage_tree, run_dir, run_dir / e.id, e.id, log, world};
    stage->run(ctx);
    ++result.stages_run;
  }
  world.barrier();
  return result;
}


// A stage of the run as planned before anything is created: its config and resume hash.
struct PlannedStage {
  StageEntry entry;
  config::ConfigTree tree;
  std::string hash;
};

bool is_complete(const fs::path& stage_dir, const std::string& hash) {
  const fs::path marker = stage_dir / ".done";
  return fs::exists(marker) && io::read_file(marker) == hash + "\n";
}

// Each stage's config and hash, for the entries up to `last`. The hash covers the sections the
// stage reads (with its own overrides applied) and the hash of the stage before it, so a change
// upstream (a new capture) re-runs everything downstream (the gates trained on it).
std::vector<PlannedStage> plan_stages(const config::ComposedConfig& composed,
                                      const std::vector<StageEntry>& entries, size_t last) {
  std::vector<PlannedStage> plan;
  std::string upstream_hash;
  for (size_t i = 0; i < last; ++i) {
    const auto& e = entries[i];
    const auto stage = make_stage(e.stage);
    config::ConfigTree tree = stage_config(composed, e);
    upstream_hash = stable_hash(upstream_hash + "\n" + e.stage + "\n" + e.id + "\n" +
                                section_yaml(tree, stage->sections(), stage->unhashed_keys()));
    plan.push_back({e, std::move(tree), upstream_hash});
  }
  return plan;
}

// check_inputs of the stages this run will run (selected, not complete), before the run folder
// exists: a missing checkpoint is an error, not a run that failed. Their warnings, prefixed with
// the stage id.
std::vector<std::string> check_planned_inputs(const std::vector<PlannedStage>& plan,
                                              const std::set<std::string>& selected,
                                              const fs::path& run_dir) {
  std::vector<std::string> warnings;
  for (const auto& p : plan) {
    if (!selected.empty() && !selected.count(p.entry.id)) continue;
    if (is_complete(run_dir / p.entry.id, p.hash)) continue;
    for (const auto& w : make_stage(p.entry.stage)->check_inputs(p.tree))
      warnings.push_back(fmt::format("{}: {}", p.entry.id, w));
  }
  return warnings;
}

// A complete stage's table (table.md, which sweep, eval_* and bench_* write), so that running a
// finished experiment again shows its results rather than only that it was skipped. Long tables
// are cut: the file has all of it.
void show_stage_table(const fs::path& stage_dir, Logger& log) {
  const fs::path table = stage_dir / "table.md";
  if (!fs::exists(table)) return;
  constexpr int kMaxLines = 40;
  const std::string text = io::read_file(table);
  size_t pos = 0;
  int lines = 0;
  while (pos < text.size() && lines < kMaxLines) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    log.info("  {}", text.substr(pos, end - pos));
    pos = end + 1;
    ++lines;
  }
  if (pos < text.size()) log.info("  ... (the whole table: {})", table.string());
}

// The stages of `plan`, logged to `log`; a stage's outputs and markers as run() describes.
void run_planned_stages(const config::ComposedConfig& composed, const std::string& experiment,
                        const std::vector<PlannedStage>& plan, size_t num_entries,
                        const std::set<std::string>& selected, int64_t seed,
                        const core::dist::World& world, Logger& log, RunResult& result) {
  const bool several = world.size() > 1;
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto& e = plan[i].entry;
    const std::string& hash = plan[i].hash;
    const config::ConfigTree& stage_tree = plan[i].tree;
    auto stage = make_stage(e.stage);
    const fs::path stage_dir = result.run_dir / e.id;
    const fs::path marker = stage_dir / ".done";
    const fs::path started = stage_dir / ".started";
    const bool complete = is_complete(stage_dir, hash);
    if (!selected.empty() && !selected.count(e.id)) {
      // Selected stages may read their inputs from elsewhere (e.g. gates=<another run>), so an
      // incomplete upstream stage is said, not refused; a stage that needs its outputs stops
      // with its own error naming what is missing.
      if (complete) {
        log.info("[{}/{}] {}: not selected, complete (outputs in {})", i + 1, num_entries, e.id,
                 stage_dir.string());
      } else {
        log.info("[{}/{}] {}: not selected and not complete for this config: the selected "
                 "stages run without its outputs", i + 1, num_entries, e.id);
      }
      world.publish(stage_key(i), kSkip);
      continue;
    }
    if (complete) {
      log.info("[{}/{}] {}: complete, skipped (outputs in {})", i + 1, num_entries, e.id,
               stage_dir.string());
      if (world.rank() == 0) show_stage_table(stage_dir, log);
      ++result.stages_skipped;
      world.publish(stage_key(i), kSkip);
      continue;
    }
    // Partial outputs resume only under the config that wrote them (an interrupted capture
    // appends, distill continues from its checkpoint). Outputs of another config are moved aside
    // to <id>.previous/, never mixed with the new ones.
    const fs::path stamp = fs::exists(marker) ? marker : started;
    if (fs::exists(stamp) && io::read_file(stamp) != hash + "\n") {
      const fs::path previous = result.run_dir / (e.id + ".previous");
      io::remove_tree(previous);
      fs::rename(stage_dir, previous);
      log.info("[{}/{}] {}: config changed since the last run; old outputs moved to {}", i + 1,
               num_entries, e.id, previous.string());
    } else if (fs::exists(marker)) {
      fs::remove(marker);
    }
    fs::create_directories(stage_dir);
    io::write_file_atomic(started, hash + "\n");
    log.info("[{}/{}] {}: {}", i + 1, num_entries, e.id, stage->summary());
    if (!e.overrides.empty()) {
      log.info("[{}/{}] {}: with overrides {}", i + 1, num_entries, e.id,
               fmt::join(e.overrides, " "));
      io::write_file_atomic(stage_dir / "config.yaml",
                            fmt::format("# stage {} ({}) of seer run {} {}\n# overrides: {}\n{}",
                                        e.id, e.stage, experiment,
                                        fmt::join(composed.overrides, " "),
                                        fmt::join(e.overrides, " "), stage_tree.to_yaml()));
    }
    const bool alone = several && !stage->data_parallel();
    if (several) {
      world.publish(stage_key(i), alone ? kRankZero : kAllRanks);
      if (alone)
        log.info("[{}/{}] {}: runs on rank 0 only (not sharded yet); {} for it", i + 1,
                 num_entries, e.id,
                 world.size() == 2 ? std::string("rank 1 waits")
                                   : fmt::format("ranks 1-{} wait", world.size() - 1));
    }
    at::manual_seed(static_cast<uint64_t>(seed));
    StageContext ctx{stage_tree, result.run_dir, stage_dir, e.id, log, world};
    const auto t0 = std::chrono::steady_clock::now();
    try {
      stage->run(ctx);
    } catch (...) {
      if (alone) world.publish(result_key(i), kFailed);
      throw;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    io::write_file_atomic(marker, hash + "\n");
    if (alone) world.publish(result_key(i), kDone);
    log.info("[{}/{}] {}: done in {:.1f}s", i + 1, num_entries, e.id, secs);
    ++result.stages_run;
  }
}

}  // namespace

RunResult run_experiment(const config::ComposedConfig& composed, const std::string& experiment,
                         const std::vector<std::string>& only, const core::dist::World& world) {
  // Everything that can be checked is checked before the run folder is created: the config,
  // the stage selection, and the inputs of the stages that will run.
  const auto& tree = composed.tree;
  validate_experiment(composed);
  const std::set<std::string> selected(only.begin(), only.end());
  const auto entries = parse_stage_list(tree);
  // Nothing after the last selected stage runs or is looked at.
  const size_t last = stages_considered(entries, selected);
  const auto run = parse_run_section(tree);
  const auto exp_name = fs::path(experiment).stem().string();
  RunResult result;
  result.run_dir = config::resolve_project_path(run.dir) / exp_name / run_name_for(composed);
  if (!world.is_main()) return follow_rank_zero(composed, entries, last, result.run_dir, world);
  const auto plan = plan_stages(composed, entries, last);
  const auto warnings = check_planned_inputs(plan, selected, result.run_dir);

  fs::create_directories(result.run_dir);
  const RunLock lock(result.run_dir);
  // What a killed run was writing never became a file of the run; its temporaries go (under the
  // lock: a live run's temporaries are never touched).
  io::remove_stale_temp_files(result.run_dir);
  io::write_file_atomic(result.run_dir / "config.yaml",
                        fmt::format("# seer run {} {}\n# composed {}\n{}", experiment,
                                    fmt::join(composed.overrides, " "), analysis::utc_timestamp(),
                                    tree.to_yaml()));
  std::string overrides_yaml;
  for (const auto& o : composed.overrides) overrides_yaml += fmt::format("- '{}'\n", o);
  io::write_file_atomic(result.run_dir / "overrides.yaml", overrides_yaml.empty() ? "[]\n" : overrides_yaml);

  Logger log(result.run_dir / "log.txt");
  try {
    log.info("seer run {} -> {}", experiment, result.run_dir.string());
    for (const auto& w : warnings) log.info("warning: {}", w);
    if (world.size() > 1)
      log.info("{} processes ({} backend, rendezvous at {}:{}): data-parallel stages run on every "
               "rank; the others on rank 0 alone while the rest wait", world.size(),
               world.backend(), world.env().master_addr, world.env().master_port);
    if (!selected.empty()) log.info("stages: only {} (of {})", fmt::join(only, ", "), entries.size());
    run_planned_stages(composed, experiment, plan, entries.size(), selected, run.seed, world, log,
                       result);
  } catch (const std::exception& e) {
    // The console gets the error from main; the log would otherwise end at the last progress
    // line and not say why the run stopped.
    log.file_only(fmt::format("seer: error: {}", error_line(e)));
    throw;
  }
  world.barrier();
  log.info("run complete: {} stage(s) run, {} skipped; outputs in {}", result.stages_run,
           result.stages_skipped, result.run_dir.string());
  return result;
}

}  // namespace seer::experiments
