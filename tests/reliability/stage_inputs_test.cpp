// What `seer run` checks before it creates anything (Stage::check_inputs,
// experiments/stage_inputs.h): every stage that takes a context or sequence length refuses one
// longer than the model's positions, naming the key, the value and max_position_embeddings; a
// folder given as a GGUF path (or a file as a Hugging Face folder) is named as such; and a refused
// run leaves no run folder behind.
#include "catch.h"
#include "core/io/gguf.h"
#include "reliability_test_util.h"

namespace fs = std::filesystem;
using seer::test::Contains;

namespace {

struct TooLong {
  const char* args;   // an experiment and its overrides asking for 100000 tokens
  const char* key;
};

}  // namespace

TEST_CASE("a length longer than the model's positions is refused by every stage",
          "[reliability][model]") {
  if (!fs::exists(seer::test::embedded_model_path())) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  // The embedded model (SmolLM2-135M) has max_position_embeddings 8192; configs/model/smollm2.yaml
  // also sets model.max_context 8192, dropped here where the stage's own check is the one tested.
  const TooLong c = GENERATE(
      TooLong{"eval_ppl eval.context=100000", "eval.context"},
      TooLong{"eval_ppl '~model.max_context' eval.context=100000", "eval.context"},
      TooLong{"paper_ppl_smoke 'stages=[sweep]' '~model.max_context' 'sweep.contexts=[1024,100000]'",
              "sweep.contexts"},
      TooLong{"paper_ppl_smoke 'stages=[calibrate]' '~model.max_context' 'calibrate.contexts=[100000]'",
              "calibrate.contexts"},
      TooLong{"quickstart 'stages=[capture]' '~model.max_context' capture.seq_len=100000",
              "capture.seq_len"},
      TooLong{"quickstart 'stages=[distill]' '~model.max_context' distill.mode=online "
              "+distill.seq_len=100000", "distill.seq_len"},
      TooLong{"quickstart 'stages=[export_heatmaps]' '~model.max_context' heatmaps.seq_len=100000",
              "heatmaps.seq_len"},
      TooLong{"paper_ruler_smoke '~model.max_context' 'ruler.lengths=[100000]'", "ruler.lengths"},
      TooLong{"paper_longbench_smoke '~model.max_context' longbench.max_length=100000",
              "longbench.max_length"},
      TooLong{"paper_prefill_smoke '~model.max_context' 'bench_prefill.lengths=[100000]'",
              "bench_prefill.lengths"});
  CAPTURE(c.args);
  const auto dir = seer::test::fresh_tmp_dir("too_long");
  seer::test::check_refused(
      seer::test::run_seer(fmt::format("{} {}", c.args, seer::test::runs_in(dir)), dir),
      {c.key, "100000", "max_position_embeddings = 8192", "SmolLM2-135M-Instruct.Q4_1.gguf"});
  CHECK_FALSE(fs::exists(dir / "runs"));
}

TEST_CASE("model.max_context past the model's positions is allowed with a warning",
          "[reliability][model]") {
  if (!fs::exists(seer::test::embedded_model_path())) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  const auto dir = seer::test::fresh_tmp_dir("past_positions");
  // The tiny corpus stops the run right after the warning, before any window is scored.
  const auto r = seer::test::run_seer(
      fmt::format("eval_ppl {} model.max_context=16384 eval.context=9000 eval.max_tokens=0 {}",
                  seer::test::runs_in(dir), seer::test::tiny_eval_split(dir)), dir);
  seer::test::check_refused(r, {"fewer than one window of 9000"});
  CHECK_THAT(r.output, Contains("warning: eval_ppl: eval.context: 9000 tokens is longer than the "
                                "model's max_position_embeddings = 8192"));
  CHECK_THAT(r.output, Contains("model.max_context = 16384 allows it"));
}

TEST_CASE("a model path of the wrong kind says what model.format expects",
          "[reliability][model]") {
  const auto dir = seer::test::fresh_tmp_dir("model_path_kind");
  const fs::path folder = dir / "a_folder";
  fs::create_directories(folder);
  const std::string runs = seer::test::runs_in(dir);
  seer::test::check_refused(
      seer::test::run_seer(fmt::format("eval_ppl {} 'model.path={}'", runs, folder.string()), dir),
      {"model.path", folder.string(), "is a folder, not a file", "one .gguf file"});
  seer::test::check_refused(
      seer::test::run_seer(fmt::format("eval_ppl {} model.format=hf 'model.path={}'", runs,
                                       folder.string()), dir),
      {"model.path", folder.string(), "no config.json in this folder", "tokenizer.json"});
  seer::test::write_file(dir / "model.gguf", "not a checkpoint");
  seer::test::check_refused(
      seer::test::run_seer(fmt::format("eval_ppl {} model.format=hf 'model.path={}'", runs,
                                       (dir / "model.gguf").string()), dir),
      {"model.path", "model.gguf", "is a file, not a folder", "model.format=gguf"});
  CHECK_FALSE(fs::exists(dir / "runs"));
  // A checkpoint reader opened on a folder directly (seer gates, tests) names it too.
  CHECK_THROWS_WITH(seer::io::GgufFile(folder.string()),
                    Contains(folder.string()) && Contains("is a folder, not a file"));
}

TEST_CASE("a refused run creates nothing", "[reliability][model]") {
  if (!fs::exists(seer::test::embedded_model_path())) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  const auto dir = seer::test::fresh_tmp_dir("refused_creates_nothing");
  const std::string runs = seer::test::runs_in(dir);
  seer::test::check_refused(
      seer::test::run_seer(fmt::format("eval_ppl {} 'model.path={}'", runs,
                                       (dir / "missing.gguf").string()), dir),
      {"model.path", "missing.gguf", "cannot open"});
  seer::test::check_refused(
      seer::test::run_seer(fmt::format("eval_ppl {} 'data.eval.path={}'", runs,
                                       (dir / "nowhere").string()), dir),
      {"data.eval", "nowhere"});
  seer::test::check_refused(
      seer::test::run_seer(fmt::format("quickstart {} 'stages=[sweep]' 'data.train.path={}'", runs,
                                       (dir / "nowhere").string()), dir),
      {"data.train", "nowhere"});
  seer::test::check_refused(seer::test::run_seer(fmt::format("eval_ppl {} eval.context=1", runs), dir),
                            {"eval.context"});
  CHECK_FALSE(fs::exists(dir / "runs"));
}
