// Shared helpers for the models tests: scratch folders, the venv python, the embedded model.
#pragma once

#include "catch.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace seer::test {

// Fresh folder under SEER_TEST_TMP for one test (removed and re-created).
std::string scratch_dir(const std::string& name);
// True when the venv python exists; runs `python script args...` from tests/models/ and returns
// true on exit code 0 (output goes to the test log).
bool have_python();
bool run_python_script(const std::string& script, const std::string& args);
// assets/models/SmolLM2-135M-Instruct.Q4_1.gguf, or "" when it has not been fetched.
std::string embedded_gguf_path();
// A seed that differs per run (printed by the caller with CAPTURE/INFO).
uint64_t fresh_seed();
// Tiny random HF checkpoints + reference logits (make_hf_fixtures.py, fresh seed), generated once
// per run; "" when the venv python is missing. Throws when the script fails.
const std::string& hf_fixture_root();
// Largest |a - b| / max(|b|, floor) over all elements.
double max_rel_error(const at::Tensor& a, const at::Tensor& b, double floor = 1.0);

}  // namespace seer::test
