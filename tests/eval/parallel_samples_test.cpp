// experiments/parallel_samples (run_on_workers) and the pieces of a cell that workers share:
// every item runs once, `finished` never overlaps, the first error comes back, one worker stays
// on the calling thread, inference mode reaches the workers; SampleLog takes appends from several
// threads and writes them back in key order; a shared RotaryEmbedding and Decoder copies give
// the same results from several threads as from one; generation in several threads matches one.
#include "catch.h"
#include "core/model/random_decoder.h"
#include "core/model/rope.h"
#include "core/sparsity/sparsity_policy.h"
#include "eval_test_util.h"
#include "experiments/eval_grid.h"
#include "experiments/parallel_samples.h"
#include "experiments/sparse_generate.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;
using namespace seer;
using seer::test::Contains;

TEST_CASE("run_on_workers runs every item once and serialises finished", "[eval][workers]") {
  const int64_t n = GENERATE(1, 7, 50);
  const int64_t workers = GENERATE(1, 3, 8, 64);
  CAPTURE(n, workers);
  std::vector<std::atomic<int>> runs(static_cast<size_t>(n));
  std::vector<int> finished_count(static_cast<size_t>(n), 0);
  std::atomic<int> inside_finished{0};
  std::atomic<bool> overlapped{false};
  std::atomic<bool> bad_worker{false};
  experiments::run_on_workers(
      n, workers, at::kCPU,
      [&](int64_t w, int64_t i) {
        if (w < 0 || w >= std::min(n, workers)) bad_worker = true;
        runs[static_cast<size_t>(i)]++;
      },
      [&](int64_t i) {
        if (inside_finished++ != 0) overlapped = true;
        std::this_thread::yield();
        finished_count[static_cast<size_t>(i)]++;
        inside_finished--;
      });
  for (int64_t i = 0; i < n; ++i) {
    CAPTURE(i);
    CHECK(runs[static_cast<size_t>(i)] == 1);
    CHECK(finished_count[static_cast<size_t>(i)] == 1);
  }
  CHECK(!overlapped);
  CHECK(!bad_worker);
}

TEST_CASE("run_on_workers rethrows the first error and keeps the caller's thread state", "[eval][workers]") {
  const int64_t workers = GENERATE(1, 4);
  CAPTURE(workers);
  std::atomic<int> started{0};
  CHECK_THROWS_WITH(experiments::run_on_workers(
                        40, workers, at::kCPU,
                        [&](int64_t, int64_t i) {
                          ++started;
                          if (i == 5) throw std::runtime_error("sample 5 failed");
                          // A sample takes time, as a real one does: without it the other
                          // workers could hand out all 40 before the error is seen.
                          std::this_thread::sleep_for(std::chrono::milliseconds(2));
                        },
                        [](int64_t) {}),
                    Contains("sample 5 failed"));
  CHECK(started < 40);   // the hand-out stopped

  // Inference mode set by the caller holds in every worker; one worker is the calling thread.
  std::atomic<int> inference{0};
  std::set<std::thread::id> ids;
  std::mutex m;
  {
    c10::InferenceMode guard;
    experiments::run_on_workers(
        12, workers, at::kCPU,
        [&](int64_t, int64_t) {
          inference += c10::InferenceMode::is_enabled() ? 1 : 0;
          std::lock_guard<std::mutex> lock(m);
          ids.insert(std::this_thread::get_id());
        },
        [](int64_t) {});
  }
  CHECK(inference == 12);
  CHECK(ids.count(std::this_thread::get_id()) == (workers == 1 ? 1u : 0u));
}

TEST_CASE("SampleLog takes appends from several threads and writes them in key order", "[eval][workers]") {
  const auto dir = test::fresh_tmp_dir("sample_log_threads");
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) keys.push_back(fmt::format("t/{}", i));
  {
    experiments::SampleLog log(dir, "h");
    log.append({{"key", "other/0"}, {"score", 0.0}});   // a sample outside this run's keys
    experiments::run_on_workers(
        30, 4, at::kCPU,
        [&](int64_t, int64_t i) {   // appends straight from the workers, in any order
          log.append({{"key", keys[static_cast<size_t>(29 - i)]}, {"score", double(29 - i)}});
        },
        [](int64_t) {});
    log.write_in_order(keys);
  }
  std::ifstream in(dir / "samples.jsonl");
  std::vector<std::string> order;
  std::string line;
  while (std::getline(in, line)) order.push_back(nlohmann::json::parse(line)["key"]);
  auto expected = keys;
  expected.push_back("other/0");
  CHECK(order == expected);
  experiments::SampleLog again(dir, "h");
  CHECK(again.reused() == 31);
  CHECK((*again.find("t/7"))["score"].get<double>() == 7.0);
}

TEST_CASE("run_cell_samples reuses logged records and returns all in key order", "[eval][workers]") {
  const auto dir = test::fresh_tmp_dir("run_cell_samples");
  const std::vector<std::string> keys = {"a/0", "a/1", "b/0", "b/1", "b/2"};
  {
    experiments::SampleLog log(dir, "h");
    log.append({{"key", "b/0"}, {"value", 100}});   // done before a kill
  }
  experiments::SampleLog log(dir, "h");
  std::atomic<int> made{0};
  int done = 0;
  const auto records = experiments::run_cell_samples(
      log, keys, 3, at::kCPU,
      [&](int64_t, size_t i) {
        ++made;
        return nlohmann::json{{"value", static_cast<int>(i)}};
      },
      [&](size_t) { ++done; });
  CHECK(made == 4);
  CHECK(done == 5);
  REQUIRE(records.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(records[i]["key"] == keys[i]);
    CHECK(records[i]["value"] == (i == 2 ? 100 : static_cast<int>(i)));
  }
  std::ifstream in(dir / "samples.jsonl");
  std::string line;
  size_t k = 0;
  while (std::getline(in, line)) CHECK(nlohmann::json::parse(line)["key"] == keys[k++]);
  CHECK(k == 5);
}

TEST_CASE("a RotaryEmbedding shared by threads gives one thread's cos/sin", "[eval][workers]") {
  core::RopeConfig rope;
  rope.theta = 10000.0;
  const core::RotaryEmbedding shared(rope, 16, 256);
  const at::Tensor pos = at::arange(3, 40, at::kLong);
  // Named tensors, not structured bindings: C++17 lambdas cannot capture those (clang refuses).
  const auto ref = core::RotaryEmbedding(rope, 16, 256).cos_sin(pos, at::kFloat);
  const at::Tensor cos_ref = std::get<0>(ref), sin_ref = std::get<1>(ref);
  std::atomic<int> same{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      const core::RotaryEmbedding copy = shared;   // a worker's Decoder holds a copy
      for (int k = 0; k < 20; ++k) {
        const auto [c, s] = (t % 2 ? copy : shared).cos_sin(pos, at::kFloat);
        same += c.equal(cos_ref) && s.equal(sin_ref);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(same == 6 * 20);
}

namespace {

// A two-layer GQA decoder small enough for many generations per test.
core::ModelConfig tiny_decoder_shape() {
  core::ModelConfig shape;
  shape.vocab_size = 97;
  shape.hidden_size = 32;
  shape.intermediate_size = 48;
  shape.num_hidden_layers = 2;
  shape.num_attention_heads = 4;
  shape.num_key_value_heads = 2;
  shape.head_dim = 8;
  shape.max_position_embeddings = 512;
  shape.rope.theta = 10000.0;
  shape.eos_token_ids = {96};
  return shape;
}

}  // namespace

TEST_CASE("generation on worker threads with Decoder copies matches one thread", "[eval][workers]") {
  const core::ModelConfig shape = tiny_decoder_shape();
  const core::Decoder model = core::random_decoder(shape, at::kFloat, at::kCPU, 3);
  const core::StreamingPolicy policy(1, 2);   // sparse prefill through the hook
  std::vector<std::vector<int64_t>> prompts;
  for (int i = 0; i < 6; ++i) {
    std::vector<int64_t> p;
    for (int j = 0; j < 70 + 13 * i; ++j) p.push_back((j * 7 + i * 11) % 90);
    prompts.push_back(p);
  }
  experiments::SparseGenerateOptions opts;
  opts.max_new_tokens = 8;
  opts.stop_ids = {1000};   // never: every sample decodes all 8 tokens
  auto run = [&](int64_t workers) {
    std::vector<core::Decoder> models(static_cast<size_t>(workers), model);
    std::vector<experiments::SparseGeneration> out(prompts.size());
    experiments::run_on_workers(
        static_cast<int64_t>(prompts.size()), workers, at::kCPU,
        [&](int64_t w, int64_t i) {
          out[static_cast<size_t>(i)] = experiments::generate_sparse_prefill(
              models[static_cast<size_t>(w)], prompts[static_cast<size_t>(i)], policy, nullptr, 16, opts);
        },
        [](int64_t) {});
    return out;
  };
  const auto one = run(1);
  const auto three = run(3);
  for (size_t i = 0; i < prompts.size(); ++i) {
    CAPTURE(i);
    CHECK(one[i].tokens.size() == 8);
    CHECK(one[i].tokens == three[i].tokens);
    CHECK(one[i].kept_blocks == three[i].kept_blocks);
    CHECK(one[i].causal_blocks == three[i].causal_blocks);
    CHECK(one[i].sparsity > 0.0);
  }
  // And the same tokens as the model's own dense greedy decoding when the policy keeps all.
  const core::DensePolicy dense;
  core::Decoder m = model;
  const auto gen = experiments::generate_sparse_prefill(m, prompts[0], dense, nullptr, 16, opts);
  CHECK(gen.tokens == m.generate_greedy(prompts[0], 8, 2048, {1000}));
}

TEST_CASE("generation stops on non-finite logits, naming the sample and the step", "[eval]") {
  core::Decoder model = core::random_decoder(tiny_decoder_shape(), at::kFloat, at::kCPU, 5);
  const core::DensePolicy policy;
  std::vector<int64_t> prompt;
  for (int j = 0; j < 40; ++j) prompt.push_back((j * 7) % 90);
  experiments::SparseGenerateOptions opts;
  opts.max_new_tokens = 4;
  opts.stop_ids = {1000};
  opts.sample = "eval_ruler: niah_single_1 sample 3 at 40 tokens";
  // A weight the loader would have refused, set after loading: the NaN reaches every logit.
  model.weights().final_norm.fill_(std::numeric_limits<float>::quiet_NaN());
  try {
    experiments::generate_sparse_prefill(model, prompt, policy, nullptr, 16, opts);
    FAIL("generation went on with NaN logits");
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Contains("eval_ruler: niah_single_1 sample 3 at 40 tokens"));
    CHECK_THAT(msg, Contains("the prefill, positions [0, 40)"));
    CHECK_THAT(msg, Contains("first in logits"));
  }
}
