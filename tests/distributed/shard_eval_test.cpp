// Sharded evaluation under `seer launch` (gloo) with the embedded model (skipped when
// assets/models is absent): a sweep (6 cells), eval_ruler (2 cells of 6 samples) and
// eval_longbench (2 cells of 4 samples) under 2 and 3 processes write the same stage folder as one
// process, file for file, byte for byte once the timings are left out (JSON fields "seconds",
// "prefill_seconds" and results.json's "date"). Every run has the same run folder name (the
// folders are renamed between runs), so the resolved config in results.json is the same too. A
// rank killed in the middle of a sweep stops the run, named; the same command under 3 processes
// resumes it to the one-process result.
#include "catch.h"

#include "dist_test_util.h"
#include "kill_rank_util.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

using namespace seer;
using namespace seer::dist_test;
using seer::test::Contains;

namespace {

const fs::path kModel = fs::path(SEER_SOURCE_DIR) / "assets/models/SmolLM2-135M-Instruct.Q4_1.gguf";

// One thread per process in every run: the one-process reference does the float sums of each
// matmul as each rank does.
const std::map<std::string, std::string> kOneThread = {{"OMP_NUM_THREADS", "1"}};

// The JSON with the fields that hold times or the date removed, at every depth.
nlohmann::json untimed(nlohmann::json j) {
  if (j.is_object()) {
    for (const char* k : {"seconds", "prefill_seconds", "date"}) j.erase(k);
    for (auto& [k, v] : j.items()) v = untimed(v);
  } else if (j.is_array()) {
    for (auto& v : j) v = untimed(v);
  }
  return j;
}

// A file's text with timings removed: JSON and JSONL untimed and dumped again, others as they are.
std::string comparable(const fs::path& file) {
  const std::string text = read_text(file);
  const std::string ext = file.extension().string();
  if (ext == ".json") return untimed(nlohmann::json::parse(text)).dump(1);
  if (ext != ".jsonl") return text;
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    out += untimed(nlohmann::json::parse(text.substr(pos, end - pos))).dump() + "\n";
    pos = end + 1;
  }
  return out;
}

// Every file under `dir` (plots left out: they are drawn from results.json), relative.
std::vector<std::string> stage_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() != ".png")
      out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

// Stage folder `b` against the reference `a`: the same files, the same text once untimed.
void check_same_stage(const fs::path& a, const fs::path& b) {
  const auto files = stage_files(a);
  REQUIRE(files.size() > 3);
  CHECK(stage_files(b) == files);
  for (const auto& f : files) {
    CAPTURE(f);
    CHECK(comparable(a / f) == comparable(b / f));
  }
}

struct EvalRun {
  fs::path root;
  fs::path runs;
  std::string experiment;
  std::vector<std::string> overrides;
  fs::path folder() const { return runs / experiment / "t"; }
  std::vector<std::string> args(int nproc) const {
    std::vector<std::string> a = {"--config-dir", (fs::path(SEER_SOURCE_DIR) / "configs").string()};
    if (nproc > 1) a.insert(a.end(), {"launch", "--nproc", std::to_string(nproc)});
    a.insert(a.end(), {"run", experiment, "++run.dir=" + runs.string(), "++run.name=t"});
    a.insert(a.end(), overrides.begin(), overrides.end());
    return a;
  }
  // Runs under `nproc` processes and moves the run folder to root/<name>.
  fs::path run(int nproc, const std::string& name) const {
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = run_seer(args(nproc), kOneThread, root / (name + ".log"));
    INFO(r.output);
    REQUIRE(r.exit_code() == 0);
    WARN(fmt::format("{} under {} process(es): {:.1f} s", experiment, nproc,
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
    const fs::path kept = root / name;
    fs::rename(folder(), kept);
    return kept;
  }
};

}  // namespace

TEST_CASE("launch: a sweep under 2 and 3 processes writes what one process writes",
          "[distributed][launch][shard]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  EvalRun e;
  e.root = fresh_dir("shard_sweep");
  e.runs = e.root / "runs";
  e.experiment = "eval_ppl";
  e.overrides = {"stages=[sweep]",
                 "++sweep={check_finite: true, contexts: [128, 256], max_tokens: 256, "
                 "chunk_size: 128, methods: "
                 "{dense: {policy: dense}, streaming: {policy: streaming, sink_blocks: 1, "
                 "local_blocks: [1, 2]}}}"};
  const fs::path one = e.run(1, "n1");
  REQUIRE(nlohmann::json::parse(read_text(one / "sweep" / "results.json"))["cells"].size() == 6);
  for (int n : {2, 3}) {
    CAPTURE(n);
    const fs::path many = e.run(n, fmt::format("n{}", n));
    check_same_stage(one / "sweep", many / "sweep");
    CHECK_THAT(read_text(many / "log.txt"),
               Contains(fmt::format("sweep: 6 cells to run over {} processes", n)));
  }
}

TEST_CASE("launch: a killed rank stops a sweep, named; the sweep resumes under 3 processes",
          "[distributed][launch][shard]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  EvalRun e;
  e.root = fresh_dir("shard_sweep_kill");
  e.runs = e.root / "runs";
  e.experiment = "eval_ppl";
  e.overrides = {"stages=[sweep]",
                 "++sweep={check_finite: true, contexts: [256], max_tokens: 512, "
                 "chunk_size: 128, methods: "
                 "{dense: {policy: dense}, streaming: {policy: streaming, sink_blocks: 1, "
                 "local_blocks: [1, 2, 3]}}}"};
  {
    SeerProcess launch(e.args(2), kOneThread, e.root / "killed.log");
    // Killed once rank 0 has written its first cell (rank 1 is then running its own).
    const fs::path cells = e.folder() / "sweep" / "cells";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    auto written = [&] {
      if (!fs::exists(cells)) return 0;
      int n = 0;
      for (const auto& c : fs::directory_iterator(cells)) n += fs::exists(c.path() / "result.json");
      return n;
    };
    while (written() < 1 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const auto r = kill_rank_and_check(launch);
    INFO(r.output);
    CHECK_FALSE(fs::exists(e.folder() / "sweep" / ".done"));
    CHECK(written() < 4);
  }
  const auto resumed = run_seer(e.args(3), kOneThread, e.root / "resumed.log");
  INFO(resumed.output);
  REQUIRE(resumed.exit_code() == 0);
  CHECK_THAT(read_text(e.folder() / "log.txt"), Contains("complete, reused"));
  fs::rename(e.folder(), e.root / "resumed");
  const fs::path one = e.run(1, "n1");
  check_same_stage(one / "sweep", e.root / "resumed" / "sweep");
}

TEST_CASE("launch: eval_ruler under 2 and 3 processes writes what one process writes",
          "[distributed][launch][shard]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  EvalRun e;
  e.root = fresh_dir("shard_ruler");
  e.runs = e.root / "runs";
  e.experiment = "paper_ruler_smoke";
  e.overrides = {"ruler.tasks=[niah_single_1, niah_multikey_2]", "ruler.lengths=[256]",
                 "ruler.num_samples=3", "eval_ruler.max_new_tokens=6",
                 "~eval_ruler.methods.streaming"};
  const fs::path one = e.run(1, "n1");
  const fs::path cell = one / "eval_ruler" / "cells" / "dense_len256";
  REQUIRE(fs::exists(cell / "samples.jsonl"));
  CHECK(comparable(cell / "samples.jsonl").size() > 100);
  for (int n : {2, 3}) {
    CAPTURE(n);
    const fs::path many = e.run(n, fmt::format("n{}", n));
    check_same_stage(one / "eval_ruler", many / "eval_ruler");
    CHECK_THAT(read_text(many / "log.txt"),
               Contains(fmt::format("shared out over {} processes", n)));
  }
}

TEST_CASE("launch: eval_longbench under 2 and 3 processes writes what one process writes",
          "[distributed][launch][shard]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  EvalRun e;
  e.root = fresh_dir("shard_longbench");
  e.runs = e.root / "runs";
  e.experiment = "paper_longbench_smoke";
  e.overrides = {"longbench.datasets=[passage_count, passage_retrieval_en]",
                 "longbench.max_length=256", "eval_longbench.max_new_tokens=4",
                 "~eval_longbench.methods.streaming"};
  const fs::path one = e.run(1, "n1");
  REQUIRE(fs::exists(one / "eval_longbench" / "cells" / "oracle_win256" / "samples.jsonl"));
  for (int n : {2, 3}) {
    CAPTURE(n);
    const fs::path many = e.run(n, fmt::format("n{}", n));
    check_same_stage(one / "eval_longbench", many / "eval_longbench");
    CHECK_THAT(read_text(many / "log.txt"),
               Contains(fmt::format("shared out over {} processes", n)));
  }
}
