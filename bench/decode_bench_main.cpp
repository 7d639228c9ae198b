// Decoding cost of the benchmark path (experiments/sparse_generate.h): per decoded token, the
// dispatcher calls the model issues (what bounds greedy decoding of a 135M model on a GPU, where
// each call is a kernel launch and the arithmetic is negligible), the CPU time and the wall time;
// and samples/s with 1..N worker threads. On a CPU the attention of each step runs the plain
// reference kernel (kernels/ref/), which issues hundreds of small calls of its own; they are
// counted apart (one kernels::attention call of the same shape, times the layers) because on a
// GPU the attention of a step is one kernel per layer.
// Build: `cmake --build build --target decode_bench`. Usage:
//   OMP_NUM_THREADS=1 build/decode_bench [model=embedded|tiny] [prompt=256] [tokens=32]
//       [samples=4] [workers=1,2] [names=1]
// One JSON line per worker count; names=1 also lists the calls of a decoding step by op name
// (stderr). Prompts are random ids and no id stops decoding, so every
// sample decodes `tokens` tokens. CPU times are per thread (getrusage), so they hold on a
// machine whose cores other jobs share; wall times do not.
#include "core/model/model_loader.h"
#include "core/model/random_decoder.h"
#include "core/sparsity/sparsity_policy.h"
#include "experiments/parallel_samples.h"
#include "experiments/sparse_generate.h"
#include "kernels/attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace seer;

std::vector<int64_t> parse_list(const std::string& v) {
  std::vector<int64_t> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(std::stoll(item));
  return out;
}

double thread_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_THREAD, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + 1e-6 * (u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

std::atomic<int64_t> g_calls{0};
std::map<std::string, int64_t> g_names;   // written by the calling thread only

// Dispatcher calls made on this thread while fn runs (nested calls included); with `names` also
// a count per op name.
template <typename Fn>
int64_t count_calls(Fn&& fn, bool names = false) {
  auto start = names ? [](const at::RecordFunction& f) -> std::unique_ptr<at::ObserverContext> {
    ++g_calls;
    ++g_names[f.name()];
    return nullptr;
  } : [](const at::RecordFunction&) -> std::unique_ptr<at::ObserverContext> {
    ++g_calls;
    return nullptr;
  };
  const auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(start).scopes({at::RecordScope::FUNCTION}));
  g_calls = 0;
  fn();
  at::removeCallback(handle);
  return g_calls.load();
}

experiments::SparseGenerateOptions decode(int64_t tokens) {
  experiments::SparseGenerateOptions o;
  o.max_new_tokens = tokens;
  o.stop_ids = {-1};
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string model_name = "embedded";
    int64_t prompt_len = 256, tokens = 32, samples = 4;
    std::vector<int64_t> worker_counts = {1, 2};
    bool list_names = false;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      const auto eq = a.find('=');
      if (eq == std::string::npos) throw std::invalid_argument("expected key=value, got " + a);
      const std::string k = a.substr(0, eq), v = a.substr(eq + 1);
      if (k == "model") model_name = v;
      else if (k == "prompt") prompt_len = std::stoll(v);
      else if (k == "tokens") tokens = std::stoll(v);
      else if (k == "samples") samples = std::stoll(v);
      else if (k == "workers") worker_counts = parse_list(v);
      else if (k == "names") list_names = v == "1";
      else throw std::invalid_argument("unknown key " + k);
    }
    if (tokens < 2) throw std::invalid_argument("tokens must be >= 2");
    core::Decoder model = [&] {
      if (model_name == "embedded") {
        return core::load_gguf_decoder(SEER_SOURCE_DIR "/assets/models/SmolLM2-135M-Instruct.Q4_1.gguf");
      }
      core::ModelConfig shape;   // SmolLM2-135M's depth and heads, narrow
      shape.vocab_size = 512;
      shape.hidden_size = 64;
      shape.intermediate_size = 128;
      shape.num_hidden_layers = 30;
      shape.num_attention_heads = 9;
      shape.num_key_value_heads = 3;
      shape.head_dim = 16;
      shape.max_position_embeddings = 8192;
      shape.rope.theta = 100000.0;
      return core::random_decoder(shape, at::kFloat, at::kCPU, 0);
    }();
    const auto& c = model.config();
    std::mt19937_64 rng(1);
    std::vector<std::vector<int64_t>> prompts(static_cast<size_t>(samples));
    for (auto& p : prompts) {
      for (int64_t j = 0; j < prompt_len; ++j) p.push_back(static_cast<int64_t>(rng() % 500));
    }
    const core::DensePolicy dense;
    core::Decoder single = model;
    experiments::generate_sparse_prefill(single, prompts[0], dense, nullptr, 64, decode(2));   // warm-up

    // Calls per decoded token: (T tokens) - (1 token) over T - 1 steps; the attention's own calls
    // from one call at the middle length of those steps.
    const int64_t steps = 8;
    const int64_t prefill_calls = count_calls(
        [&] { experiments::generate_sparse_prefill(single, prompts[0], dense, nullptr, 64, decode(1)); });
    const int64_t all_calls = count_calls(
        [&] { experiments::generate_sparse_prefill(single, prompts[0], dense, nullptr, 64, decode(steps + 1)); });
    const int64_t L = prompt_len + steps / 2;
    const at::Tensor q = at::randn({1, 1, c.num_attention_heads, c.head_dim});
    const at::Tensor k = at::randn({1, L, c.num_key_value_heads, c.head_dim});
    const at::Tensor v = at::randn({1, L, c.num_key_value_heads, c.head_dim});
    auto attend = [&] {
      c10::InferenceMode guard;
      kernels::AttnOptions o;
      o.causal = true;
      kernels::attention(q, k, v, o);
    };
    if (list_names) {   // the model's calls of a decoding step by name: prefill and attention subtracted
      g_names.clear();
      count_calls([&] { experiments::generate_sparse_prefill(single, prompts[0], dense, nullptr, 64, decode(1)); }, true);
      std::map<std::string, int64_t> other = g_names;
      g_names.clear();
      count_calls(attend, true);
      for (const auto& [name, n] : g_names) other[name] += steps * c.num_hidden_layers * n;
      g_names.clear();
      count_calls([&] { experiments::generate_sparse_prefill(single, prompts[0], dense, nullptr, 64, decode(steps + 1)); }, true);
      for (const auto& [name, n] : g_names) {
        const double per_token = static_cast<double>(n - other[name]) / steps;
        if (per_token != 0.0) fmt::print(stderr, "{:>10.1f}  {}\n", per_token, name);
      }
    }
    const double calls_per_token = static_cast<double>(all_calls - prefill_calls) / steps;
    const int64_t attn_calls = count_calls(attend);
    const double model_calls_per_token = calls_per_token - static_cast<double>(attn_calls * c.num_hidden_layers);

    // CPU time per decoded token on one thread: (T tokens) - (1 token), per sample.
    double cpu_decode = 0.0;
    for (const auto& p : prompts) {
      const double t0 = thread_cpu_seconds();
      experiments::generate_sparse_prefill(single, p, dense, nullptr, 64, decode(1));
      const double t1 = thread_cpu_seconds();
      experiments::generate_sparse_prefill(single, p, dense, nullptr, 64, decode(tokens));
      const double t2 = thread_cpu_seconds();
      cpu_decode += (t2 - t1) - (t1 - t0);
    }
    const double cpu_ms_per_token = 1000.0 * cpu_decode / static_cast<double>(samples * (tokens - 1));

    for (const int64_t workers : worker_counts) {
      std::vector<core::Decoder> models(static_cast<size_t>(workers), model);
      std::vector<experiments::SparseGeneration> out(prompts.size());
      std::vector<double> cpu(prompts.size());
      const auto t0 = std::chrono::steady_clock::now();
      experiments::run_on_workers(
          samples, workers, at::kCPU,
          [&](int64_t w, int64_t i) {
            const double c0 = thread_cpu_seconds();
            out[static_cast<size_t>(i)] = experiments::generate_sparse_prefill(
                models[static_cast<size_t>(w)], prompts[static_cast<size_t>(i)], dense, nullptr, 64,
                decode(tokens));
            cpu[static_cast<size_t>(i)] = thread_cpu_seconds() - c0;
          },
          [](int64_t) {});
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double decode_wall = 0.0, cpu_total = 0.0;
      for (size_t i = 0; i < out.size(); ++i) {
        decode_wall += out[i].seconds - out[i].prefill_seconds;
        cpu_total += cpu[i];
      }
      fmt::print("{{\"model\": \"{}\", \"prompt\": {}, \"tokens\": {}, \"samples\": {}, \"workers\": {}, "
                 "\"intra_op_threads\": {}, \"calls_per_token\": {:.0f}, \"attention_calls_per_token\": {}, "
                 "\"model_calls_per_token\": {:.0f}, \"cpu_ms_per_token\": {:.3f}, "
                 "\"wall_ms_per_token\": {:.3f}, \"cpu_s_per_sample\": {:.3f}, \"samples_per_s\": {:.3f}, "
                 "\"wall_s\": {:.2f}}}\n",
                 model_name, prompt_len, tokens, samples, workers, at::get_num_threads(),
                 calls_per_token, attn_calls * c.num_hidden_layers, model_calls_per_token,
                 cpu_ms_per_token, 1000.0 * decode_wall / static_cast<double>(samples * (tokens - 1)),
                 cpu_total / static_cast<double>(samples), samples / wall, wall);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "decode_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
