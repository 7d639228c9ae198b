// The benchmark stages eval_ruler and eval_longbench end to end on tiny inputs with the embedded
// model (skipped when assets/models is absent): per-sample JSONL fields, scores recomputed from
// the records by hand, the question rows kept dense, resume after a killed run, the LongBench-E
// buckets, and config errors that name the key. Also SampleLog on its own.
#include "catch.h"
#include "core/config/config_error.h"
#include "data/metrics/longbench_scorer.h"
#include "data/metrics/ruler_metrics.h"
#include "eval_test_util.h"
#include "run_test_util.h"
#include "experiments/eval_grid.h"
#include "experiments/runner.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>

namespace fs = std::filesystem;
using namespace seer;
using seer::test::Contains;

namespace {

const fs::path kModel = test::embedded_model_path();

fs::path fresh_dir(const std::string& name) { return test::fresh_tmp_dir(name); }

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

nlohmann::json read_json(const fs::path& path) { return nlohmann::json::parse(test::read_file(path)); }

std::string validate_error(const std::string& experiment, const std::vector<std::string>& ov) {
  try {
    experiments::validate_experiment(test::compose_experiment(experiment, ov).tree);
  } catch (const std::exception& e) {
    return e.what();
  }
  FAIL("expected an error");
  return "";
}

}  // namespace

TEST_CASE("SampleLog keeps whole records, drops a torn line, restarts on a new hash", "[eval]") {
  const auto dir = fresh_dir("sample_log");
  {
    experiments::SampleLog log(dir, "h1");
    log.append({{"key", "a/0"}, {"score", 1.0}});
    log.append({{"key", "a/1"}, {"score", 0.5}});
  }
  {  // a kill in the middle of the third line
    std::ofstream out(dir / "samples.jsonl", std::ios::app);
    out << "{\"key\": \"a/2\", \"sco";
  }
  {
    experiments::SampleLog log(dir, "h1");
    CHECK(log.reused() == 2);
    REQUIRE(log.find("a/1").has_value());
    CHECK((*log.find("a/1"))["score"].get<double>() == 0.5);
    CHECK(!log.find("a/2").has_value());
    log.append({{"key", "a/2"}, {"score", 0.0}});
  }
  CHECK(read_jsonl(dir / "samples.jsonl").size() == 3);
  {  // a line that parses but is no record of ours (a key that is not a string): reuse stops there
    std::ofstream out(dir / "samples.jsonl", std::ios::app);
    out << "{\"key\": 7}\n[1, 2]\n";
  }
  {
    experiments::SampleLog log(dir, "h1");
    CHECK(log.reused() == 3);
  }
  CHECK(read_jsonl(dir / "samples.jsonl").size() == 3);
  experiments::SampleLog other(dir, "h2");
  CHECK(other.reused() == 0);
  CHECK(read_jsonl(dir / "samples.jsonl").empty());
}

TEST_CASE("eval_ruler config errors name the key", "[eval]") {
  const std::vector<std::string> base = {"++run.dir=" + (fs::path(SEER_TEST_TMP) / "cfg").string()};
  auto with = [&](std::string o) { auto v = base; v.push_back(std::move(o)); return v; };
  CHECK_THAT(validate_error("paper_ruler_smoke", with("++eval_ruler.bogus=1")),
             Contains("eval_ruler.bogus"));
  CHECK_THAT(validate_error("paper_ruler_smoke", with("eval_ruler.chunk_size=100")),
             Contains("eval_ruler.chunk_size"));
  CHECK_THAT(validate_error("paper_ruler_smoke", with("eval_ruler.methods.dense.policy=sparse")),
             Contains("sparsity.policy"));
  CHECK_THAT(validate_error("paper_ruler_smoke", with("++eval_ruler.methods.g={policy: topk, keep_ratio: 0.2}")),
             Contains("eval_ruler.gates"));
  CHECK_THAT(validate_error("paper_ruler_smoke", with("ruler.lengths=[1024, 16384]")),
             Contains("ruler.lengths"));
  CHECK_THAT(validate_error("paper_ruler_smoke", with("ruler.essay_path=/no/such/essays.json")),
             Contains("ruler.essay_path"));
  CHECK_THAT(validate_error("paper_longbench_smoke", with("longbench.data_dir=/no/such/dir")),
             Contains("longbench.data_dir"));
  CHECK_THAT(validate_error("paper_longbench_smoke", with("longbench.data_dir=")),
             Contains("longbench.data_dir"));
  CHECK_THAT(validate_error("paper_longbench_smoke", with("longbench.datasets=[qasper]")),
             Contains("qasper.jsonl"));
  CHECK_THAT(validate_error("paper_longbench_smoke", with("longbench.max_length=8192")),
             Contains("longbench.max_length"));
  CHECK_THAT(validate_error("paper_longbench_smoke", with("eval_longbench.chat_template=x")),
             Contains("eval_longbench.chat_template"));
}

TEST_CASE("the paper_ruler / paper_longbench configs validate", "[eval]") {
  const std::string fixture = (fs::path(SEER_SOURCE_DIR) / "configs/benchmarks/longbench/smoke_fixture").string();
  CHECK_NOTHROW(experiments::validate_experiment(
      test::compose_experiment("paper_ruler", {"ruler.essay_path=null"}).tree));
  CHECK_NOTHROW(experiments::validate_experiment(
      test::compose_experiment("paper_longbench", {"longbench.data_dir=" + fixture,
                                  "++longbench.datasets=[narrativeqa, passage_count]"}).tree));
  // Without data: an error naming the key, before capture or distill run.
  CHECK_THAT(validate_error("paper_longbench", {"longbench.data_dir="}), Contains("longbench.data_dir"));
}

TEST_CASE("eval_ruler writes samples, summaries and tables, and resumes a killed cell", "[eval]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  const auto dir = fresh_dir("eval_ruler");
  const std::vector<std::string> ov = {
      "++run.dir=" + dir.string(), "++run.name=t", "ruler.tasks=[niah_single_1]",
      "ruler.lengths=[256]", "ruler.num_samples=2", "eval_ruler.max_new_tokens=6"};
  auto result = experiments::run_experiment(test::compose_experiment("paper_ruler_smoke", ov), "paper_ruler_smoke");
  const fs::path stage = result.run_dir / "eval_ruler";
  for (const char* f : {"table.md", "table.csv", "tasks.md", "results.json", ".done",
                        "inputs/256/niah_single_1.jsonl", "summary/dense/256/summary.csv"}) {
    CAPTURE(f);
    CHECK(fs::exists(stage / f));
  }
  const fs::path dense = stage / "cells" / "dense_len256";
  const auto records = read_jsonl(dense / "samples.jsonl");
  REQUIRE(records.size() == 2);
  for (const auto& r : records) {
    for (const char* k : {"task", "length", "prompt_tokens", "prediction", "references", "score",
                          "sparsity", "kept_blocks", "causal_blocks"}) {
      CAPTURE(k);
      CHECK(r.contains(k));
    }
    CHECK(r["task"] == "niah_single_1");
    CHECK(r["length"] == 256);
    CHECK(r["prompt_tokens"].get<int64_t>() <= 256);
    CHECK(r["sparsity"].get<double>() == 0.0);
    // The record's score is RULER's string_match_all of its own prediction.
    const auto refs = r["references"].get<std::vector<std::string>>();
    CHECK(r["score"].get<double>() ==
          data::ruler_match_all_sample(data::ruler_postprocess(r["prediction"]), refs));
  }
  // Cell score = mean x 100 over the samples, 2 decimals (RULER's string_match_all).
  const auto dense_result = read_json(dense / "result.json");
  const double mean = 100.0 * (records[0]["score"].get<double>() + records[1]["score"].get<double>()) / 2;
  CHECK(dense_result["tasks"]["niah_single_1"]["score"].get<double>() ==
        Approx(std::round(mean * 100) / 100));
  CHECK(dense_result["sparsity"].get<double>() == 0.0);
  // Per-layer sparsity in every record: one value per layer (30 for the embedded model); all
  // layers count the same causal blocks, so their mean is the record's overall sparsity.
  for (const auto& r : records) {
    CHECK(r["layer_sparsity"].size() == 30);
    for (const auto& v : r["layer_sparsity"]) CHECK(v.get<double>() == 0.0);
  }
  for (const auto& r : read_jsonl(stage / "cells" / "oracle_len256" / "samples.jsonl")) {
    const auto layers = r["layer_sparsity"].get<std::vector<double>>();
    REQUIRE(layers.size() == 30);
    double sum = 0.0;
    for (double v : layers) sum += v;
    CHECK(sum / 30.0 == Approx(r["sparsity"].get<double>()).margin(1e-12));
    CHECK(r["sparsity"].get<double>() > 0.0);
  }
  const auto streaming = read_json(stage / "cells" / "streaming_len256" / "result.json");
  CHECK(streaming["sparsity"].get<double>() >= 0.0);
  CHECK(test::read_file(stage / "summary/dense/256/summary.csv").rfind("0,1\nTasks,niah_single_1\n", 0) == 0);
  const auto all = read_json(stage / "results.json");
  CHECK(all["cells"].size() == 3);
  CHECK(all.contains("git"));
  CHECK(all.contains("config"));
  CHECK_THAT(test::read_file(stage / "table.md"), Contains("| dense |"));

  // Kill simulation: the dense cell lost its result and half of its last record.
  const std::string kept_line = records[0].dump() + "\n";
  fs::remove(dense / "result.json");
  test::write_file(dense / "samples.jsonl", kept_line + records[1].dump().substr(0, 20));
  const auto oracle_time = fs::last_write_time(stage / "cells" / "oracle_len256" / "result.json");
  fs::remove(stage / ".done");
  experiments::run_experiment(test::compose_experiment("paper_ruler_smoke", ov), "paper_ruler_smoke");
  CHECK_THAT(test::read_file(result.run_dir / "log.txt"), Contains("resuming, 1 samples already done"));
  const auto again = read_jsonl(dense / "samples.jsonl");
  REQUIRE(again.size() == 2);
  CHECK(again[0] == records[0]);
  CHECK(again[1]["prediction"] == records[1]["prediction"]);   // greedy and seeded: the same
  CHECK(fs::last_write_time(stage / "cells" / "oracle_len256" / "result.json") == oracle_time);
}

TEST_CASE("eval_ruler skips a task whose smallest prompt exceeds a length, and says so", "[eval]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  const auto dir = fresh_dir("eval_ruler_short");
  const std::vector<std::string> ov = {
      "++run.dir=" + dir.string(), "++run.name=t", "ruler.tasks=[niah_single_1]",
      "ruler.lengths=[48]", "ruler.num_samples=1", "~eval_ruler.methods.oracle",
      "~eval_ruler.methods.streaming"};
  auto result = experiments::run_experiment(test::compose_experiment("paper_ruler_smoke", ov), "paper_ruler_smoke");
  const auto all = read_json(result.run_dir / "eval_ruler" / "results.json");
  CHECK(all["skipped_tasks"].contains("niah_single_1@48"));
  CHECK(all["cells"][0]["average"].is_null());
  CHECK_THAT(test::read_file(result.run_dir / "eval_ruler" / "table.md"), Contains("| dense | - |"));
  CHECK_THAT(test::read_file(result.run_dir / "log.txt"), Contains("skipping niah_single_1 at length 48"));
}

TEST_CASE("eval_longbench keeps the question rows dense and scores like eval.py", "[eval]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  const auto dir = fresh_dir("eval_longbench");
  // Two LongBench-E records, one per length bucket, with known answers.
  std::string lines;
  for (int i = 0; i < 2; ++i) {
    nlohmann::json r = {{"input", ""}, {"answers", {"2"}}, {"all_classes", nullptr},
                        {"length", i == 0 ? 3000 : 5000}, {"dataset", "passage_count"},
                        {"_id", fmt::format("t{}", i)}};
    std::string context;
    for (int p = 0; p < 6; ++p) {
      context += fmt::format("Paragraph {}: {} The end of this paragraph.\n\n", p + 1,
                             p % 2 == 0 ? "Emma walked to Highbury in the rain." : "Mr. Knightley read the letter twice.");
    }
    r["context"] = context;
    lines += r.dump() + "\n";
  }
  test::write_file(dir / "data" / "passage_count_e.jsonl", lines);
  const std::vector<std::string> ov = {
      "++run.dir=" + dir.string(), "++run.name=t", "longbench.data_dir=" + (dir / "data").string(),
      "longbench.datasets=[passage_count]", "longbench.e=true", "longbench.max_length=128",
      "eval_longbench.max_new_tokens=4"};
  auto result = experiments::run_experiment(test::compose_experiment("paper_longbench_smoke", ov), "paper_longbench_smoke");
  const fs::path stage = result.run_dir / "eval_longbench";
  for (const char* f : {"table.md", "table.csv", "table_e.md", "table_e.csv", "results.json"}) {
    CAPTURE(f);
    CHECK(fs::exists(stage / f));
  }
  for (const char* cell : {"dense_win128", "oracle_win128", "streaming_win128"}) {
    CAPTURE(cell);
    const auto records = read_jsonl(stage / "cells" / cell / "samples.jsonl");
    REQUIRE(records.size() == 2);
    std::vector<double> scores;
    int64_t kept = 0, causal = 0;
    for (const auto& r : records) {
      for (const char* k : {"dataset", "id", "length", "prompt_tokens", "prediction", "answers",
                            "score", "sparsity", "dense_last_rows", "context_end_token", "truncated"}) {
        CAPTURE(k);
        CHECK(r.contains(k));
      }
      CHECK(r["truncated"] == true);
      const int64_t S = r["prompt_tokens"], end = r["context_end_token"];
      CHECK(end < S);
      // Every query block holding a token after the context is dense.
      CHECK(r["dense_last_rows"].get<int64_t>() == (S + 63) / 64 - end / 64);
      CHECK(r["score"].get<double>() ==
            data::longbench_sample_score("passage_count_e", r["prediction"], {"2"}, {}));
      scores.push_back(r["score"]);
      kept += r["kept_blocks"].get<int64_t>();
      causal += r["causal_blocks"].get<int64_t>();
    }
    const auto res = read_json(stage / "cells" / cell / "result.json");
    const auto& d = res["datasets"]["passage_count"];
    CHECK(d["score"].get<double>() == Approx(std::round(100.0 * (scores[0] + scores[1]) / 2 * 100) / 100));
    CHECK(d["buckets"]["0-4k"].get<double>() == Approx(100.0 * scores[0]));
    CHECK(d["buckets"]["4-8k"].get<double>() == Approx(100.0 * scores[1]));
    CHECK(d["buckets"]["8k+"].is_null());
    CHECK(res["sparsity"].get<double>() == Approx(causal > 0 ? 1.0 - double(kept) / causal : 0.0));
  }
  // 128 tokens = 2 blocks, both holding the question: nothing left to skip.
  CHECK(read_json(stage / "cells" / "streaming_win128" / "result.json")["sparsity"].get<double>() == 0.0);
}

TEST_CASE("eval_ruler writes the same records with 1 and 3 workers; the worker count is not in the hash",
          "[eval][workers]") {
  if (!fs::exists(kModel)) SEER_SKIP("no embedded model (scripts/fetch_model.sh): " + kModel.string());
  const auto dir = fresh_dir("eval_ruler_workers");
  auto overrides = [&](const std::string& name, int workers) {
    return std::vector<std::string>{
        "++run.dir=" + dir.string(), "++run.name=" + name,
        "ruler.tasks=[niah_single_1, niah_multikey_2]", "ruler.lengths=[256]", "ruler.num_samples=2",
        "eval_ruler.max_new_tokens=6", "~eval_ruler.methods.streaming",
        fmt::format("++eval_ruler.workers={}", workers)};
  };
  const auto one = experiments::run_experiment(
      test::compose_experiment("paper_ruler_smoke", overrides("w", 1)), "paper_ruler_smoke");
  const auto three = experiments::run_experiment(
      test::compose_experiment("paper_ruler_smoke", overrides("w3", 3)), "paper_ruler_smoke");
  // Timing is the only thing allowed to differ.
  auto untimed = [](std::vector<nlohmann::json> records) {
    for (auto& r : records) {
      r.erase("seconds");
      r.erase("prefill_seconds");
    }
    return records;
  };
  for (const char* cell : {"dense_len256", "oracle_len256"}) {
    CAPTURE(cell);
    const auto a = untimed(read_jsonl(one.run_dir / "eval_ruler" / "cells" / cell / "samples.jsonl"));
    const auto b = untimed(read_jsonl(three.run_dir / "eval_ruler" / "cells" / cell / "samples.jsonl"));
    REQUIRE(a.size() == 4);
    CHECK(a == b);
    CHECK(a[0]["key"] == "niah_single_1/0");
    CHECK(a[3]["key"] == "niah_multikey_2/1");
    CHECK(read_json(three.run_dir / "eval_ruler" / "cells" / cell / "result.json")["workers"] == 3);
  }
  for (const char* f : {"table.md", "tasks.md", "vs_dense.md", "table.csv", "tasks.csv"}) {
    CAPTURE(f);
    CHECK(test::read_file(one.run_dir / "eval_ruler" / f) == test::read_file(three.run_dir / "eval_ruler" / f));
  }
  const auto all = read_json(three.run_dir / "eval_ruler" / "results.json");
  CHECK(all["intervals"]["cells"].size() == 2);
  CHECK(all["intervals"]["bootstrap"]["resamples"] == 2000);
  CHECK_THAT(test::read_file(three.run_dir / "eval_ruler" / "table.md"), Contains("95% bootstrap intervals"));
  // Another worker count on the finished run: the stage is complete, nothing runs again, and the
  // log shows its table once more.
  const std::string table = test::read_file(three.run_dir / "eval_ruler" / "table.md");
  const std::string table_head = table.substr(0, table.find('\n') + 1);   // with its newline
  REQUIRE(table_head.size() > 1);
  auto shown = [&] {
    const std::string log = test::read_file(three.run_dir / "log.txt");
    int n = 0;
    for (size_t p = log.find(table_head); p != std::string::npos; p = log.find(table_head, p + 1)) ++n;
    return n;
  };
  const int shown_before = shown();
  experiments::run_experiment(test::compose_experiment("paper_ruler_smoke", overrides("w3", 2)),
                              "paper_ruler_smoke");
  CHECK_THAT(test::read_file(three.run_dir / "log.txt"), Contains("eval_ruler: complete, skipped"));
  CHECK(shown() == shown_before + 1);
}

TEST_CASE("eval_ruler bootstrap and workers keys are checked", "[eval][workers]") {
  const std::vector<std::string> base = {"++run.dir=" + (fs::path(SEER_TEST_TMP) / "cfg").string()};
  auto with = [&](std::string o) { auto v = base; v.push_back(std::move(o)); return v; };
  CHECK_THAT(validate_error("paper_ruler_smoke", with("++eval_ruler.workers=0")),
             Contains("eval_ruler.workers"));
  CHECK_THAT(validate_error("paper_ruler_smoke", with("++eval_ruler.bootstrap.resamples=10")),
             Contains("eval_ruler.bootstrap.resamples"));
  CHECK_THAT(validate_error("paper_ruler_smoke", with("++eval_ruler.bootstrap.level=1.5")),
             Contains("eval_ruler.bootstrap.level"));
  CHECK_THAT(validate_error("paper_ruler_smoke", with("++eval_ruler.bootstrap.bogus=1")),
             Contains("eval_ruler.bootstrap.bogus"));
  CHECK_THAT(validate_error("paper_ruler_smoke", with("++eval_ruler.bootstrap.reference=gates")),
             Contains("eval_ruler.bootstrap.reference"));
  CHECK_THAT(validate_error("paper_longbench_smoke", with("++eval_longbench.workers=-2")),
             Contains("eval_longbench.workers"));
}

TEST_CASE("SampleLog writes a prediction cut inside a UTF-8 character as U+FFFD", "[eval]") {
  const auto dir = fresh_dir("sample_log_utf8");
  const std::string cut = std::string("caf") + "\xc3";   // the first byte of "é" alone
  {
    experiments::SampleLog log(dir, "h1");
    log.append({{"key", "a/0"}, {"prediction", cut}, {"score", 0.0}});
    log.write_in_order({"a/0"});
  }
  const auto records = read_jsonl(dir / "samples.jsonl");
  REQUIRE(records.size() == 1);
  CHECK(records[0]["prediction"].get<std::string>() == "caf\xef\xbf\xbd");
  experiments::SampleLog again(dir, "h1");
  CHECK(again.reused() == 1);
}
