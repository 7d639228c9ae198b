#include "stage_outputs_util.h"

#include "core/gate/gate_file.h"
#include "data/capture_file.h"

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using nlohmann::json;

namespace seer::test {
namespace {

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Keys whose values measure or count the run that wrote them, not what it computed.
bool volatile_key(const std::string& key) {
  static const std::set<std::string> kKeys = {"seconds", "prefill_seconds", "tokens_per_s", "date",
                                              "written", "written_by_rank",
                                              "skipped_complete", "hash"};
  return kKeys.count(key) > 0 || key.rfind("seconds_", 0) == 0;
}

json without_volatile(const json& j) {
  if (j.is_object()) {
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!volatile_key(it.key())) out[it.key()] = without_volatile(it.value());
    return out;
  }
  if (j.is_array()) {
    json out = json::array();
    for (const auto& v : j) out.push_back(without_volatile(v));
    return out;
  }
  return j;
}

// The first place where a and b differ, as ".key[3].key: a vs b".
std::string first_json_difference(const json& a, const json& b, const std::string& at = "") {
  if (a.type() != b.type()) return fmt::format("{}: {} vs {}", at, a.dump(), b.dump());
  if (a.is_object()) {
    for (auto it = a.begin(); it != a.end(); ++it) {
      if (!b.contains(it.key())) return fmt::format("{}.{}: only in the reference", at, it.key());
      auto d = first_json_difference(it.value(), b[it.key()], at + "." + it.key());
      if (!d.empty()) return d;
    }
    for (auto it = b.begin(); it != b.end(); ++it)
      if (!a.contains(it.key())) return fmt::format("{}.{}: only in the resumed run", at, it.key());
    return "";
  }
  if (a.is_array()) {
    if (a.size() != b.size())
      return fmt::format("{}: {} vs {} entries", at, a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      auto d = first_json_difference(a[i], b[i], fmt::format("{}[{}]", at, i));
      if (!d.empty()) return d;
    }
    return "";
  }
  return a == b ? "" : fmt::format("{}: {} vs {}", at, a.dump(), b.dump());
}

std::vector<json> jsonl_records(const fs::path& p) {
  std::vector<json> out;
  std::istringstream in(read_bytes(p));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(without_volatile(json::parse(line)));
  return out;
}

bool same_tensor(const at::Tensor& a, const at::Tensor& b) {
  if (a.defined() != b.defined()) return false;
  return !a.defined() ||
         (a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() && at::equal(a, b));
}

std::string capture_difference(const fs::path& a, const fs::path& b) {
  const data::CaptureReader ra(a), rb(b);
  const auto& ia = ra.info();
  const auto& ib = rb.info();
  if (std::tie(ia.model, ia.block_size, ia.num_layers, ia.num_q_heads, ia.num_kv_heads, ia.head_dim,
               ia.layers, ia.heads, ia.g_dtype, ia.qk_dtype, ia.q_subblocks) !=
      std::tie(ib.model, ib.block_size, ib.num_layers, ib.num_q_heads, ib.num_kv_heads, ib.head_dim,
               ib.layers, ib.heads, ib.g_dtype, ib.qk_dtype, ib.q_subblocks))
    return "file attributes differ";
  const auto seqs = ra.sequences();
  if (seqs != rb.sequences())
    return fmt::format("complete sequences differ ({} vs {})", seqs.size(), rb.sequences().size());
  for (const auto& id : seqs) {
    if (ra.length(id) != rb.length(id)) return id + ": length differs";
    const auto layers = ra.layers(id);
    if (layers != rb.layers(id)) return id + ": layers differ";
    for (int64_t l : layers) {
      const auto da = ra.read_layer(id, l), db = rb.read_layer(id, l);
      const std::pair<const char*, std::pair<const at::Tensor*, const at::Tensor*>> parts[] = {
          {"G", {&da.g, &db.g}}, {"q_pooled", {&da.q_pooled, &db.q_pooled}},
          {"k_pooled", {&da.k_pooled, &db.k_pooled}}, {"P", {&da.p, &db.p}},
          {"mask", {&da.mask, &db.mask}}};
      for (const auto& [name, t] : parts)
        if (!same_tensor(*t.first, *t.second))
          return fmt::format("{} layer {}: {} differs", id, l, name);
    }
  }
  return "";
}

// The AdamW state of a checkpoint (optimizer.pt beside gates/): per gate parameter, its step
// count and moments.
std::vector<at::Tensor> optimizer_state(const fs::path& file) {
  core::GateSet gates = core::load_gates(file.parent_path() / "gates");
  std::vector<at::Tensor> params = gates.parameters();
  torch::optim::AdamW opt(params);
  torch::load(opt, file.string());
  std::vector<at::Tensor> out;
  out.push_back(at::tensor(opt.param_groups().at(0).options().get_lr(), at::kDouble));
  for (const auto& p : params) {
    const auto it = opt.state().find(p.unsafeGetTensorImpl());
    if (it == opt.state().end()) {
      out.emplace_back();
      continue;
    }
    const auto& s = static_cast<const torch::optim::AdamWParamState&>(*it->second);
    out.push_back(at::tensor(s.step(), at::kLong));
    out.push_back(s.exp_avg());
    out.push_back(s.exp_avg_sq());
  }
  return out;
}

// torch::save keys an optimiser's state by the address each parameter had in the process that
// saved it, so two runs never write the same bytes; the state itself must be the same.
std::string optimizer_difference(const fs::path& a, const fs::path& b) {
  const auto sa = optimizer_state(a), sb = optimizer_state(b);
  if (sa.size() != sb.size()) return fmt::format("{} vs {} state tensors", sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i)
    if (!same_tensor(sa[i], sb[i])) return fmt::format("optimizer state tensor {} differs", i);
  return "";
}

std::string file_difference(const fs::path& a, const fs::path& b) {
  const std::string ext = a.extension().string();
  try {
    if (ext == ".png") return "";
    if (ext == ".h5") return capture_difference(a, b);
    if (a.filename() == "optimizer.pt") return optimizer_difference(a, b);
    if (ext == ".json")
      return first_json_difference(without_volatile(json::parse(read_bytes(a))),
                                   without_volatile(json::parse(read_bytes(b))));
    if (ext == ".jsonl") {
      const auto ra = jsonl_records(a), rb = jsonl_records(b);
      if (ra.size() != rb.size()) return fmt::format("{} vs {} records", ra.size(), rb.size());
      for (size_t i = 0; i < ra.size(); ++i) {
        auto d = first_json_difference(ra[i], rb[i]);
        if (!d.empty()) return fmt::format("record {}: {}", i, d);
      }
      return "";
    }
  } catch (const std::exception& e) {
    return fmt::format("does not read: {}", e.what());
  }
  return read_bytes(a) == read_bytes(b) ? "" : "bytes differ";
}

std::set<std::string> relative_files(const fs::path& dir) {
  std::set<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out.insert(fs::relative(e.path(), dir).string());
  return out;
}

}  // namespace

std::vector<std::string> stage_differences(const fs::path& reference, const fs::path& resumed) {
  std::vector<std::string> out;
  const auto want = relative_files(reference), have = relative_files(resumed);
  for (const auto& f : want) {
    if (!have.count(f)) {
      out.push_back(f + ": missing");
      continue;
    }
    const std::string d = file_difference(reference / f, resumed / f);
    if (!d.empty()) out.push_back(fmt::format("{}: {}", f, d));
  }
  for (const auto& f : have)
    if (!want.count(f)) out.push_back(f + ": not in the uninterrupted run");
  return out;
}

std::vector<std::string> untrustworthy_files(const fs::path& stage_dir) {
  std::vector<std::string> out;
  const std::regex temp(R"(.*\.tmp(\.\d+)?$)");
  for (const auto& rel : relative_files(stage_dir)) {
    const fs::path p = stage_dir / rel;
    const std::string name = p.filename().string();
    // Names a reader skips: temporaries, and checkpoint folders not yet renamed into place.
    if (std::regex_match(name, temp) || rel.find(".tmp/") != std::string::npos) continue;
    try {
      if (name == ".done" || name == ".started") {
        if (!std::regex_match(read_bytes(p), std::regex("[0-9a-f]{16}\n")))
          out.push_back(rel + ": not a stage hash");
      } else if (p.extension() == ".json") {
        if (!json::accept(read_bytes(p))) out.push_back(rel + ": not JSON");
      } else if (p.extension() == ".jsonl") {
        // A kill may cut the last line short (readers drop it); every line before it is whole.
        std::istringstream in(read_bytes(p));
        std::vector<std::string> lines;
        for (std::string line; std::getline(in, line);) lines.push_back(line);
        for (size_t i = 0; i + 1 < lines.size(); ++i)
          if (!json::accept(lines[i]))
            out.push_back(fmt::format("{}: line {} is not JSON", rel, i + 1));
      } else if (p.extension() == ".h5") {
        std::unique_ptr<data::CaptureReader> reader;
        try {
          reader = std::make_unique<data::CaptureReader>(p);
        } catch (const std::exception&) {
          continue;   // a file that does not open is not trusted by anyone (the resume says more)
        }
        for (const auto& id : reader->sequences())
          for (int64_t l : reader->layers(id)) (void)reader->read_layer(id, l);
      } else if (name == "gates.json") {
        (void)core::load_gates(p.parent_path());
      }
    } catch (const std::exception& e) {
      out.push_back(fmt::format("{}: {}", rel, e.what()));
    }
  }
  return out;
}

}  // namespace seer::test
