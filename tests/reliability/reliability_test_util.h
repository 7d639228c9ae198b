// Shared by the reliability tests (runs that cannot trip over each other, inputs the model or data
// cannot take): a run folder inside the test's scratch folder, and a corpus too short for any
// window. Scratch folders and files come from eval/eval_test_util.h, the `seer` command from
// seer_cli_util.h.
#pragma once

#include "eval/eval_test_util.h"
#include "eval/run_test_util.h"
#include "seer_cli_util.h"

#include <fmt/format.h>

#include <filesystem>
#include <string>

namespace seer::test {

// Sends a run's folder to dir/runs/<experiment>/<name>, so a test can see whether it was created.
inline std::string runs_in(const std::filesystem::path& dir) {
  return fmt::format("'++run.dir={}'", (dir / "runs").string());
}

// data.eval as one file of three tokens (a perplexity "over 3 tokens" is what it must refuse).
inline std::string tiny_eval_split(const std::filesystem::path& dir) {
  const auto file = dir / "tiny.txt";
  write_file(file, "Hello there.");
  return fmt::format("data.eval.kind=text_file 'data.eval.path={}' '~data.eval.include'",
                     file.string());
}

}  // namespace seer::test
