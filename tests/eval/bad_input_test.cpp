// The bad-input catalogue (issue 16): each kind of bad input a user can hand `seer run` gives a
// one-line error that names the file, key or tensor and the offending value, exit status 1, and
// never a crash, a hang or a finished run with a wrong answer. Runs the built `seer` command.
#include "catch.h"
#include "core/gate/gate_file.h"
#include "core/gate/gate_set.h"
#include "eval_test_util.h"
#include "run_test_util.h"
#include "seer_cli_util.h"

#include <fmt/format.h>

#include <ATen/ATen.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using seer::test::check_refused;
using seer::test::run_seer;

namespace {

std::string head_of(const fs::path& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string out(n, '\0');
  in.read(out.data(), static_cast<std::streamsize>(n));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

}  // namespace

TEST_CASE("bad configs: typo, wrong type, malformed YAML", "[eval][bad_input]") {
  const auto dir = seer::test::fresh_tmp_dir("bad_input_config");
  check_refused(run_seer("eval_ppl eval.contxt=1024", dir), {"eval.contxt", "no such key"});
  check_refused(run_seer("eval_ppl eval.context=abc", dir),
                {"eval.context", "'abc'", "expected an integer"});
  seer::test::write_file(dir / "broken.yaml", "defaults:\n  - model: smollm2\neval: [1, 2\n");
  check_refused(run_seer("'" + (dir / "broken.yaml").string() + "'", dir),
                {"broken.yaml:", "malformed YAML"});
}

TEST_CASE("bad checkpoints: missing, not a GGUF, truncated", "[eval][bad_input]") {
  const auto model = seer::test::embedded_model_path();
  if (!fs::exists(model)) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  const auto dir = seer::test::fresh_tmp_dir("bad_input_model");
  check_refused(run_seer(fmt::format("eval_ppl model.path={}", (dir / "missing.gguf").string()), dir),
                {"missing.gguf", "cannot open"});
  seer::test::write_file(dir / "noise.gguf", std::string(4096, '\x5a'));
  check_refused(run_seer(fmt::format("eval_ppl model.path={}", (dir / "noise.gguf").string()), dir),
                {"noise.gguf", "not a GGUF file"});
  seer::test::write_file(dir / "cut.gguf", head_of(model, 65536));
  check_refused(run_seer(fmt::format("eval_ppl model.path={}", (dir / "cut.gguf").string()), dir),
                {"cut.gguf", "truncated GGUF file", "65536"});
}

TEST_CASE("bad data: missing folder, empty split, not UTF-8", "[eval][bad_input]") {
  if (!fs::exists(seer::test::embedded_model_path())) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  const auto dir = seer::test::fresh_tmp_dir("bad_input_data");
  check_refused(run_seer(fmt::format("eval_ppl data.eval.path={}", (dir / "nowhere").string()), dir),
                {"data.eval", "nowhere", "not a directory"});
  fs::create_directories(dir / "empty_books");
  seer::test::write_file(dir / "empty_books" / "blank.txt", "");
  check_refused(run_seer(fmt::format("eval_ppl data.eval.path={} '~data.eval.include'",
                                     (dir / "empty_books").string()), dir),
                {"data.eval", "no tokens", "blank.txt"});
  seer::test::write_file(dir / "latin1.txt", "Un caf\xE9 noir.\n");
  check_refused(run_seer(fmt::format("eval_ppl data.eval.kind=text_file data.eval.path={} "
                                     "'~data.eval.include'", (dir / "latin1.txt").string()), dir),
                {"data.eval", "latin1.txt", "not UTF-8", "0xe9"});
}

TEST_CASE("bad gates: another model's, a truncated weight file", "[eval][bad_input]") {
  if (!fs::exists(seer::test::embedded_model_path())) SEER_SKIP("no embedded model (scripts/fetch_model.sh)");
  const auto dir = seer::test::fresh_tmp_dir("bad_input_gates");
  // The embedded model (SmolLM2-135M) has 30 layers, 9 / 3 heads of D 64; these gates expect D 32.
  // (Gates of another block size are not an error: a sweep runs them at their own block size.)
  seer::core::GateConfig cfg;
  seer::core::GateRope rope;
  rope.rope.theta = 100000.0;
  rope.max_position_embeddings = 8192;
  auto other = seer::core::GateSet::init(cfg, {9, 3, 32}, rope, 30, "another-model");
  seer::core::save_gates(other, dir / "other_model");
  const std::string sweep = "paper_ppl_smoke 'stages=[sweep]' 'sweep.contexts=[1024]' "
                            "sweep.max_tokens=1024 +run.name=bad_gates sweep.gates=";
  check_refused(run_seer(sweep + (dir / "other_model").string(), dir),
                {"other_model", "another model", "32", "64"});
  auto ours = seer::core::GateSet::init(cfg, {9, 3, 64}, rope, 30, "SmolLM2-135M-Instruct-Q4_1");
  seer::core::save_gates(ours, dir / "cut");
  const auto weights = dir / "cut" / "gates.safetensors";
  seer::test::write_file(weights, head_of(weights, fs::file_size(weights) / 2));
  check_refused(run_seer(sweep + (dir / "cut").string(), dir), {"gates.safetensors"});
}

TEST_CASE("an unwritable run folder is refused by name", "[eval][bad_input]") {
  const auto dir = seer::test::fresh_tmp_dir("bad_input_run_dir");
  seer::test::write_file(dir / "a_file", "not a folder");
  check_refused(run_seer(fmt::format("eval_ppl +run.dir={}", (dir / "a_file" / "runs").string()), dir),
                {"a_file"});
}
