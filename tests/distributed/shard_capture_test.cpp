// Sharded capture and bench_prefill under `seer launch` (gloo), on the reliability tests' tiny
// random model (tests/reliability/tiny_model_util.h): capture (5 windows, 2 per file: files of 2,
// 2 and 1 windows, so 2 ranks get 2 and 1 files), distill over that capture, then bench_prefill
// (2 lengths x 3 settings). Under 2 and 3 processes the capture folder holds the same files, the
// dataset distill reads returns the same tensors bit for bit, distillation ends at the same loss
// and gates (within float tolerance: its batch is shared out too), and bench_prefill has the same
// cells with the same non-timing fields. A capture that a kill left with a truncated file and a
// missing one, and one whose rank 1 is killed mid-capture (41 windows, 3 to a file), resume under
// 3 processes to the same tensors as one process.
#include "catch.h"

#include "data/capture_dataset.h"
#include "dist_test_util.h"
#include "kill_rank_util.h"
#include "reliability/tiny_model_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

using namespace seer;
using namespace seer::dist_test;
using seer::test::Contains;

namespace {

constexpr int64_t kWindows = 5, kSteps = 6;

// One thread per process in every run: the one-process reference sums as each rank does.
const std::map<std::string, std::string> kOneThread = {{"OMP_NUM_THREADS", "1"}};

struct ShardFixture {
  fs::path root;
  fs::path config_dir;
  fs::path runs;
  int64_t windows = 0;
  std::vector<std::string> overrides;
  fs::path folder() const { return runs / "shard" / "t"; }
  std::vector<std::string> args(int nproc) const {
    std::vector<std::string> a = {"--config-dir", config_dir.string()};
    if (nproc > 1) a.insert(a.end(), {"launch", "--nproc", std::to_string(nproc)});
    a.insert(a.end(), {"run", "shard"});
    a.insert(a.end(), overrides.begin(), overrides.end());
    return a;
  }
  // Runs the experiment under `nproc` processes and moves the run folder to root/<name>.
  fs::path run(int nproc, const std::string& name) const {
    const auto r = run_seer(args(nproc), kOneThread, root / (name + ".log"));
    INFO(r.output);
    REQUIRE(r.exit_code() == 0);
    const fs::path kept = root / name;
    fs::rename(folder(), kept);
    return kept;
  }
};

// `windows` captured windows of `seq_len` tokens, `per_file` to a file.
ShardFixture make_shard_fixture(const std::string& name, int64_t windows, int64_t seq_len,
                                int64_t per_file) {
  ShardFixture f;
  f.root = fresh_dir(name);
  f.config_dir = f.root / "configs";
  f.runs = f.root / "runs";
  f.windows = windows;
  seer::test::write_tiny_model(f.root / "model", 11);
  seer::test::write_tiny_text(f.root / "train.txt", windows * seq_len + 1024, 3);
  seer::test::write_tiny_text(f.root / "eval.txt", 2048, 4);
  fs::create_directories(f.config_dir);
  for (const char* group : {"train", "gate"})
    fs::create_directory_symlink(fs::path(SEER_SOURCE_DIR) / "configs" / group,
                                 f.config_dir / group);
  write_text(f.config_dir / "experiment" / "shard.yaml",
             fmt::format(R"(description: "sharded capture and bench_prefill test"
defaults:
  - train: quickstart
  - gate: small
  - _self_
model: {{name: tiny-random-llama, format: hf, path: '{}', dtype: float32, device: cpu, chunk_size: 64}}
data:
  train: {{kind: text_file, path: '{}'}}
  eval: {{kind: text_file, path: '{}'}}
gate: {{block_size: 16, hidden_size: 16}}
capture: {{seq_len: {}, num_sequences: {}, sequences_per_file: {}, block_size: 16,
          g_dtype: float32, qk_dtype: float32}}
distill: {{mode: offline, capture: capture}}
train: {{steps: {}, batch: 3, warmup_steps: 1, checkpoint_every: 3}}
bench_prefill:
  weights: model
  gates: random
  lengths: [64, 96]
  warmup: 0
  reps: 1
  methods:
    dense: {{policy: dense}}
    gate: {{policy: topk, keep_ratio: [0.5, 0.25]}}
run: {{dir: '{}', name: t}}
stages: [capture, distill, bench_prefill]
)", (f.root / "model").string(), (f.root / "train.txt").string(),
                         (f.root / "eval.txt").string(), seq_len, windows, per_file, kSteps,
                         f.runs.string()));
  return f;
}

std::vector<std::string> file_names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& p : data::capture_folder_files(dir)) out.push_back(p.filename().string());
  return out;
}

// The whole capture of run `b` against the reference `a`, read as distill reads it: one batch of
// every sequence in dataset order, every tensor equal bit for bit.
void check_same_capture(const fs::path& a, const fs::path& b, int64_t windows) {
  const fs::path da = a / "capture" / "capture", db = b / "capture" / "capture";
  CHECK(file_names(db) == file_names(da));
  const data::CaptureDataset ref(data::capture_files(da.string()));
  const data::CaptureDataset got(data::capture_files(db.string()));
  REQUIRE(ref.size() == windows);
  REQUIRE(got.size() == ref.size());
  std::vector<int64_t> all(static_cast<size_t>(ref.size()));
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  const auto rb = ref.read_batch(all, {}), gb = got.read_batch(all, {});
  REQUIRE(gb.groups.size() == rb.groups.size());
  for (size_t g = 0; g < rb.groups.size(); ++g) {
    const auto &r = rb.groups[g], &o = gb.groups[g];
    CAPTURE(g);
    CHECK(o.ids == r.ids);
    CHECK(o.tokens == r.tokens);
    CHECK(o.layers == r.layers);
    REQUIRE(o.g.size() == r.g.size());
    for (size_t l = 0; l < r.g.size(); ++l) {
      CAPTURE(l);
      CHECK(at::equal(o.g[l], r.g[l]));
      CHECK(at::equal(o.q_pooled[l], r.q_pooled[l]));
      CHECK(at::equal(o.k_pooled[l], r.k_pooled[l]));
    }
  }
}

// bench_prefill's rows without the fields that hold times.
nlohmann::json untimed_rows(const fs::path& run) {
  auto rows = nlohmann::json::parse(read_text(run / "bench_prefill" / "prefill.json"))["rows"];
  for (auto& row : rows)
    for (const char* k : {"ms", "ms_min", "speedup", "tokens_per_s", "peak_memory_gib"})
      row.erase(k);
  return rows;
}

}  // namespace

TEST_CASE("launch: capture, distill and bench_prefill under 2 and 3 processes equal one process",
          "[distributed][launch][shard]") {
  const auto f = make_shard_fixture("shard_capture", kWindows, 96, 2);
  const fs::path one = f.run(1, "n1");
  CHECK(file_names(one / "capture" / "capture") ==
        std::vector<std::string>{"capture_00000.h5", "capture_00001.h5", "capture_00002.h5"});
  {
    // The windows differ from each other: equal captures below are not equal by accident.
    const data::CaptureDataset d(data::capture_files((one / "capture" / "capture").string()));
    REQUIRE(d.size() == kWindows);
    const auto b = d.read_batch({0, 1}, {});
    REQUIRE(b.groups.size() == 1);
    CHECK_FALSE(at::equal(b.groups[0].g[0][0], b.groups[0].g[0][1]));
  }
  const auto ref_losses = step_losses(one);
  REQUIRE(ref_losses.size() == static_cast<size_t>(kSteps));
  const auto ref_rows = untimed_rows(one);
  REQUIRE(ref_rows.size() == 6);

  for (int n : {2, 3}) {
    CAPTURE(n);
    const fs::path many = f.run(n, fmt::format("n{}", n));
    check_same_capture(one, many, kWindows);
    const auto cap = nlohmann::json::parse(read_text(many / "capture" / "capture.json"));
    CHECK(cap["sequences"] == kWindows);
    CHECK(cap["written"] == kWindows);
    CHECK(cap["processes"] == n);
    // File k on rank k % n: files of 2, 2 and 1 windows.
    CHECK(cap["written_by_rank"] ==
          (n == 2 ? nlohmann::json{3, 2} : nlohmann::json{2, 2, 1}));
    CHECK(cap["files"].size() == 3);
    const std::string log = read_text(many / "log.txt");
    CHECK_THAT(log, Contains(fmt::format("capture: 3 of 3 files to write over {} processes", n)));
    CHECK_THAT(log, Contains(fmt::format("bench_prefill: 6 cells over {} processes", n)));

    // Distillation over the sharded capture: the same losses and gates (its batch of 3 is
    // shared out as well, so float sums differ in order; launch_test.cpp's tolerances).
    const auto losses = step_losses(many);
    REQUIRE(losses.size() == ref_losses.size());
    for (size_t i = 0; i < losses.size(); ++i) {
      CAPTURE(i, losses[i], ref_losses[i]);
      CHECK(std::abs(losses[i] - ref_losses[i]) <= 1e-5 * std::abs(ref_losses[i]) + 1e-6);
    }
    CHECK(max_weight_difference(one / "distill" / "gates", many / "distill" / "gates") <= 1e-5);

    // bench_prefill: the same cells in the same order, the same sparsities, and tables with the
    // same rows and columns.
    CHECK(untimed_rows(many) == ref_rows);
    const auto table = read_text(many / "bench_prefill" / "table.md");
    for (const char* label : {"dense", "gate keep_ratio=0.5", "gate keep_ratio=0.25"})
      CHECK_THAT(table, Contains(label));
    const auto ref_table = read_text(one / "bench_prefill" / "table.md");
    CHECK(std::count(table.begin(), table.end(), '\n') ==
          std::count(ref_table.begin(), ref_table.end(), '\n'));
  }
}

TEST_CASE("launch: a capture left damaged by a kill resumes under another number of processes",
          "[distributed][launch][shard]") {
  const auto f = make_shard_fixture("shard_capture_resume", kWindows, 96, 2);
  const fs::path one = f.run(1, "n1");
  // A two-process capture as a kill leaves it: one file cut short mid-write, one never begun, and
  // no stage marker.
  const auto r = run_seer(f.args(2), kOneThread, f.root / "n2.log");
  INFO(r.output);
  REQUIRE(r.exit_code() == 0);
  const fs::path dir = f.folder() / "capture" / "capture";
  const fs::path cut = dir / "capture_00001.h5";
  fs::resize_file(cut, fs::file_size(cut) * 2 / 3);
  fs::remove(dir / "capture_00002.h5");
  fs::remove(f.folder() / "capture" / ".done");

  const auto resumed = run_seer(f.args(3), kOneThread, f.root / "resumed.log");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code() == 0);
  const std::string log = read_text(f.folder() / "log.txt");
  CHECK_THAT(log, Contains("capture_00001.h5 was damaged by a kill or a full disk"));
  CHECK_THAT(log, Contains("capture: 2 of 3 files to write over 3 processes"));
  const auto cap = nlohmann::json::parse(read_text(f.folder() / "capture" / "capture.json"));
  CHECK(cap["sequences"] == kWindows);
  CHECK(cap["skipped_complete"].get<int64_t>() >= 2);
  CHECK(cap["written"].get<int64_t>() >= 1);
  CHECK(cap["skipped_complete"].get<int64_t>() + cap["written"].get<int64_t>() == kWindows);
  check_same_capture(one, f.folder(), kWindows);
}

TEST_CASE("launch: a rank killed mid-capture stops the run, named; it resumes under 3 processes",
          "[distributed][launch][shard]") {
  // 41 windows, 3 to a file (the last file holds 2): long enough on the tiny model that the kill
  // lands while the ranks capture.
  auto f = make_shard_fixture("shard_capture_kill", 41, 512, 3);
  f.overrides = {"stages=[capture]"};
  const fs::path dir = f.folder() / "capture" / "capture";
  {
    SeerProcess launch(f.args(2), kOneThread, f.root / "killed.log");
    // Killed once rank 0 has begun its second file (rank 1 is then inside its own).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!fs::exists(dir / "capture_00002.h5") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    const auto r = kill_rank_and_check(launch);
    INFO(r.output);
    CHECK_FALSE(fs::exists(f.folder() / "capture" / ".done"));
    CHECK(data::capture_folder_files(dir).size() < 14);
  }
  const auto resumed = run_seer(f.args(3), kOneThread, f.root / "resumed.log");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code() == 0);
  const auto cap = nlohmann::json::parse(read_text(f.folder() / "capture" / "capture.json"));
  CHECK(cap["sequences"] == 41);
  CHECK(cap["skipped_complete"].get<int64_t>() >= 1);
  CHECK(cap["written"].get<int64_t>() >= 1);
  fs::rename(f.folder(), f.root / "resumed");
  const fs::path one = f.run(1, "n1");
  check_same_capture(one, f.root / "resumed", 41);
}
