#include "experiments/eval_grid.h"

#include "core/config/paths.h"
#include "core/gate/gate_file.h"
#include "core/io/atomic_file.h"
#include "core/sparsity/sparsity_policy.h"
#include "experiments/gate_folders.h"
#include "experiments/parallel_samples.h"
#include "experiments/sharded_items.h"

#include <fmt/format.h>

#include <cerrno>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>

namespace fs = std::filesystem;

namespace seer::experiments {

int64_t read_prefill_chunk(const config::ConfigReader& r, int64_t block, int64_t fallback) {
  const int64_t chunk = r.get<int64_t>("chunk_size", fallback);
  if (chunk < 0 || (chunk > 0 && chunk % block != 0)) {
    r.fail("chunk_size", fmt::format("expected 0 (one forward) or a positive multiple of the block "
                                     "size {} (chunked prefill keeps query blocks whole)", block));
  }
  return chunk;
}

EvalGridConfig parse_eval_grid(const config::ConfigReader& r, const config::ConfigTree& tree) {
  EvalGridConfig c;
  c.gates = r.get<std::string>("gates", "");
  c.block_size = core::read_block_size(r, "block_size", c.block_size);
  c.chunk_size = read_prefill_chunk(r, c.block_size, c.chunk_size);
  c.max_new_tokens = r.get<int64_t>("max_new_tokens", c.max_new_tokens);
  if (c.max_new_tokens < 0) r.fail("max_new_tokens", "expected >= 0 (0 = the benchmark's own)");
  c.workers = r.get<int64_t>("workers", c.workers);
  if (c.workers < 1 || c.workers > 256) r.fail("workers", "expected 1 .. 256 (samples evaluated side by side)");
  c.check_finite = r.get<bool>("check_finite");
  c.settings = expand_sweep_methods(r);
  for (const auto& s : c.settings) {
    const auto policy =
        core::parse_sparsity_policy(config::ConfigReader(setting_config(tree, s), "sparsity"));
    if (policy->needs_gate() && c.gates.empty()) {
      r.fail("gates", fmt::format("method '{}' uses gate scores: set gates to a distill stage id "
                                  "of this run or a gates folder", s.method));
    }
  }
  return c;
}

config::ConfigTree setting_config(const config::ConfigTree& base, const SweepSetting& setting) {
  config::ConfigTree tree = base.clone();
  tree.root()["sparsity"] = YAML::Clone(setting.sparsity);
  tree.drop_sources_below("sparsity");
  // The methods live in the stage's own section; name the file that set them in errors.
  std::string where = "methods";
  for (const char* section : {"eval_ruler.methods", "eval_longbench.methods", "sweep.methods"}) {
    if (base.has(section)) {
      where = fmt::format("{} ({}.{})", base.source_of(section), section, setting.method);
      break;
    }
  }
  tree.set_sources_recursive("sparsity", setting.sparsity, where);
  return tree;
}

std::optional<core::GateSet> load_grid_gates(const StageContext& ctx, const EvalGridConfig& grid,
                                             const std::string& section,
                                             const core::ModelSpec& spec, int64_t* block) {
  *block = grid.block_size;
  bool any_gate = false;
  for (const auto& s : grid.settings) {
    any_gate = any_gate ||
               core::parse_sparsity_policy(
                   config::ConfigReader(setting_config(ctx.config, s), "sparsity"))->needs_gate();
  }
  if (!any_gate) return std::nullopt;
  if (grid.gates.empty()) {
    throw std::runtime_error(fmt::format(
        "{}: a method uses gate scores but {}.gates is not set (a distill stage id of this run, "
        "or a gates folder)", section, section));
  }
  const fs::path dir = ctx.gates_path(grid.gates);
  ctx.log.info("gates from {}", dir.string());
  core::GateSet gates = load_gates_for_model(dir, spec);
  gates.to(core::model_device(spec), at::kFloat);
  *block = gates.config.block_size;
  return gates;
}

EvalModel load_eval_model(const StageContext& ctx, const EvalGridConfig& grid,
                          const std::string& section) {
  auto spec = core::parse_model_spec(config::ConfigReader(ctx.config, "model"));
  // Each rank of a multi-process run on its own GPU of the host.
  spec.device = ctx.world.rank_device(spec.device);
  ctx.log.info("loading {} ({}, {})", spec.path, spec.format, spec.dtype);
  core::Decoder model = core::load_decoder(spec);
  auto tokenizer = core::load_tokenizer(spec);
  int64_t block = 0;
  auto gates = load_grid_gates(ctx, grid, section, spec, &block);
  return EvalModel{std::move(spec), std::move(model), std::move(tokenizer), std::move(gates), block};
}

std::string gates_identity(const StageContext& ctx, const std::string& gates) {
  if (gates.empty()) return "";
  const fs::path dir = ctx.gates_path(gates);
  std::string id;
  if (!fs::is_directory(dir)) return id;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    id += fmt::format("{}:{}:{};", e.path().filename().string(), e.file_size(),
                      e.last_write_time().time_since_epoch().count());
  }
  return id;
}

std::string eval_cell_id(const std::string& label, const std::string& suffix) {
  std::string id;
  for (char c : suffix.empty() ? label : label + " " + suffix) {
    if (c == ' ') id += '_';
    else if (c == '=') id += '-';
    else if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') id += c;
    else id += '_';
  }
  return id;
}

nlohmann::json read_json_file(const fs::path& path) {
  try {
    return nlohmann::json::parse(io::read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(fmt::format("{}: not valid JSON: {}", path.string(), e.what()));
  }
}

SampleLog::SampleLog(const fs::path& dir, const std::string& hash) : path_(dir / "samples.jsonl") {
  fs::create_directories(dir);
  const fs::path marker = dir / "cell.json";
  bool same = false;
  if (fs::exists(marker)) {
    try {
      same = read_json_file(marker).value("hash", "") == hash;
    } catch (const std::exception&) {
      same = false;
    }
  }
  std::string kept;
  if (same && fs::exists(path_)) {
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      // A line cut short by a kill does not parse; everything before it is whole.
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_discarded() || !j.is_object() || !j.contains("key") || !j["key"].is_string()) break;
      records_[j["key"].get<std::string>()] = j;
      kept += line + "\n";
    }
  }
  reused_ = static_cast<int64_t>(records_.size());
  io::write_file_atomic(path_, kept);
  io::write_file_atomic(marker, nlohmann::json{{"hash", hash}}.dump() + "\n");
}

std::optional<nlohmann::json> SampleLog::find(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = records_.find(key);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

namespace {

// One JSONL line. A generated answer can stop inside a multi-byte character (a token boundary
// splits it, or a small model emits a stray byte): such bytes are written as U+FFFD, as
// tokenizers' decode with errors="replace" shows them, rather than nlohmann throwing mid-run. The
// scores were computed on the text itself before it got here.
std::string jsonl_line(const nlohmann::json& record) {
  return record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace

void SampleLog::append(const nlohmann::json& record) {
  const std::string key = record.at("key").get<std::string>();
  const std::string line = jsonl_line(record);
  std::lock_guard<std::mutex> lock(mutex_);
  std::ofstream out(path_, std::ios::app | std::ios::binary);
  out << line;
  out.flush();
  if (!out) throw io::write_error(path_, errno);
  records_[key] = record;
}

void SampleLog::write_in_order(const std::vector<std::string>& keys) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string text;
  std::set<std::string> written;
  for (const auto& k : keys) {
    const auto it = records_.find(k);
    if (it == records_.end() || !written.insert(k).second) continue;
    text += jsonl_line(it->second);
  }
  for (const auto& [k, rec] : records_) {
    if (!written.count(k)) text += jsonl_line(rec);
  }
  io::write_file_atomic(path_, text);
}

std::vector<nlohmann::json> run_cell_samples(
    SampleLog& log, const std::vector<std::string>& keys, int64_t workers, at::Device device,
    const std::function<nlohmann::json(int64_t, size_t)>& make,
    const std::function<void(size_t)>& on_done) {
  return run_cell_samples(core::dist::World::single(), "cell", &log, keys, workers, device, make,
                          on_done);
}

std::vector<nlohmann::json> run_cell_samples(
    const core::dist::World& world, const std::string& shared_as, SampleLog* log,
    const std::vector<std::string>& keys, int64_t workers, at::Device device,
    const std::function<nlohmann::json(int64_t, size_t)>& make,
    const std::function<void(size_t)>& on_done) {
  std::map<std::string, size_t> index_of;
  for (size_t i = 0; i < keys.size(); ++i) index_of[keys[i]] = i;
  const bool main = world.is_main();
  std::vector<nlohmann::json> records(main ? keys.size() : 0);
  std::vector<std::string> pending;
  if (main) {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (auto found = log->find(keys[i])) {
        records[i] = std::move(*found);
        on_done(i);
      } else {
        pending.push_back(keys[i]);
      }
    }
  }
  run_sharded_items(
      world, shared_as, pending,
      [&](const std::vector<std::string>& mine, const ItemDone& finished) {
        std::vector<nlohmann::json> made(mine.size());
        run_on_workers(
            static_cast<int64_t>(mine.size()), workers, device,
            [&](int64_t worker, int64_t j) {
              const size_t i = index_of.at(mine[static_cast<size_t>(j)]);
              nlohmann::json rec = make(worker, i);
              rec["key"] = keys[i];
              made[static_cast<size_t>(j)] = std::move(rec);
            },
            [&](int64_t j) {
              finished(mine[static_cast<size_t>(j)], std::move(made[static_cast<size_t>(j)]));
            });
      },
      [&](const std::string& key, nlohmann::json rec) {
        const size_t i = index_of.at(key);
        log->append(rec);
        records[i] = std::move(rec);
        on_done(i);
      });
  if (!main) return {};
  log->write_in_order(keys);
  return records;
}

}  // namespace seer::experiments
