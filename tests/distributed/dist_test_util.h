// Shared by the distributed tests: a tiny offline-distillation fixture that needs no model weights
// (an HF config.json of 2 layers, 4 query / 2 KV heads, D = 16, and a capture of random G and
// pooled Q/K in 16-token blocks, windows of 96 and 128 tokens so a step has two groups), an
// experiment `dp` over it in a config folder of its own (corpus_stats of a one-line text, a stage
// that is not sharded, then distill), and the `seer` binary run as a child process with its own
// environment.
#pragma once

#include "core/gate/gate_file.h"
#include "data/capture_folder.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace seer::dist_test {

namespace fs = std::filesystem;

constexpr int64_t kBlock = 16, kLayers = 2, kHq = 4, kHkv = 2, kD = 16;

inline fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::path(SEER_TEST_TMP) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

inline void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Window w of the capture: its values derive from w alone.
inline data::CaptureSequence window(int64_t w) {
  auto gen = at::detail::createCPUGenerator(500 + static_cast<uint64_t>(w));
  data::CaptureSequence s;
  s.length = w % 3 == 0 ? 96 : 128;
  const int64_t nb = s.length / kBlock;
  for (int64_t layer = 0; layer < kLayers; ++layer) {
    data::CaptureLayerData d;
    d.layer = layer;
    auto g = (at::rand({kHq, nb, nb}, gen, at::kFloat) * 4).exp().tril();
    d.g = g / g.sum(-1, true);
    d.q_pooled = at::randn({nb, kHq, 3 * kD}, gen, at::kFloat);
    d.k_pooled = at::randn({nb, kHkv, 3 * kD}, gen, at::kFloat);
    s.layers.push_back(d);
  }
  return s;
}

struct Fixture {
  fs::path root;
  fs::path config_dir;   // configs/experiment/dp.yaml; train/ and gate/ are the project's
  fs::path runs;         // run.dir
};

// `windows` captured windows; dp trains `steps` steps of `batch` (checkpoint every
// `checkpoint_every`).
inline Fixture make_fixture(const std::string& name, int64_t windows, int64_t steps, int64_t batch,
                            int64_t checkpoint_every) {
  Fixture f;
  f.root = fresh_dir(name);
  f.config_dir = f.root / "configs";
  f.runs = f.root / "runs";
  const fs::path model = f.root / "model", capture = f.root / "capture";
  write_text(model / "config.json",
             fmt::format(R"({{"model_type": "llama", "vocab_size": 300, "hidden_size": 64,
 "intermediate_size": 96, "num_hidden_layers": {}, "num_attention_heads": {},
 "num_key_value_heads": {}, "head_dim": {}, "max_position_embeddings": 4096}})",
                         kLayers, kHq, kHkv, kD));
  data::CaptureFileInfo info;
  info.model = "tiny";
  info.block_size = kBlock;
  info.num_layers = kLayers;
  info.num_q_heads = kHq;
  info.num_kv_heads = kHkv;
  info.head_dim = kD;
  info.g_dtype = "float32";
  info.qk_dtype = "float32";
  {
    data::CaptureFolderWriter out(capture, info, 4, "none");
    for (int64_t w = 0; w < windows; ++w) out.write(w, window(w));
    out.finish();
  }
  write_text(f.root / "text.txt", "It is a truth universally acknowledged.\n");
  fs::create_directories(f.config_dir);
  for (const char* group : {"train", "gate"})
    fs::create_directory_symlink(fs::path(SEER_SOURCE_DIR) / "configs" / group,
                                 f.config_dir / group);
  write_text(f.config_dir / "experiment" / "dp.yaml",
             fmt::format(R"(description: "distillation test"
defaults:
  - train: distill
  - gate: small
  - _self_
model: {{name: tiny, format: hf, path: '{}', dtype: float32, device: cpu, chunk_size: 256}}
gate: {{block_size: {}, hidden_size: 16}}
train: {{steps: {}, batch: {}, warmup_steps: 2, lr: 0.01, checkpoint_every: {}}}
distill: {{mode: offline, capture: '{}'}}
data: {{train: {{kind: text_file, path: '{}'}}}}
corpus_stats: {{splits: [train], tokens: false}}
run: {{dir: '{}', name: t}}
stages: [corpus_stats, distill]
)", model.string(), kBlock, steps, batch, checkpoint_every, capture.string(),
                         (f.root / "text.txt").string(), f.runs.string()));
  return f;
}

inline fs::path run_folder(const Fixture& f, const std::string& name) {
  return f.runs / "dp" / name;
}

// A port nobody listens on now.
inline int free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

struct Finished {
  int status = 0;        // as waitpid reports it
  std::string output;    // stdout and stderr
  int exit_code() const { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }
};

// `seer ARGS` as a child process, with the test's environment less the launch variables, plus
// `env`; stdout and stderr go to `log`.
class SeerProcess {
 public:
  SeerProcess(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
              fs::path log)
      : log_(std::move(log)) {
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e, name = entry.substr(0, entry.find('='));
      if (kLaunchVariables.count(name) == 0 && env.count(name) == 0) env_strings.push_back(entry);
    }
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<std::string> argv_strings = {SEER_CLI};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv, envp;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    const int rc = posix_spawn(&pid_, SEER_CLI, &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + std::string(SEER_CLI));
  }
  ~SeerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  Finished wait() {
    Finished f;
    waitpid(pid_, &f.status, 0);
    pid_ = -1;
    f.output = read_text(log_);
    return f;
  }

 private:
  static inline const std::set<std::string> kLaunchVariables = {
      "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
      "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NNODES", "SLURM_JOB_ID",
      "OMP_NUM_THREADS", "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"};
  fs::path log_;
  pid_t pid_ = -1;
};

inline Finished run_seer(const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env, const fs::path& log) {
  return SeerProcess(args, env, log).wait();
}

// The loss of every step of a run's distill stage, in order.
inline std::vector<double> step_losses(const fs::path& run) {
  std::vector<double> out;
  std::ifstream in(run / "distill" / "metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return out;
}

// Largest |a - b| over the gate weights of two gate folders.
inline double max_weight_difference(const fs::path& a, const fs::path& b) {
  const auto pa = core::load_gates(a).parameters(), pb = core::load_gates(b).parameters();
  if (pa.size() != pb.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < pa.size(); ++i)
    worst = std::max(worst, (pa[i] - pb[i]).abs().max().item<double>());
  return worst;
}

// The pid of the child of `parent` whose environment has RANK=<rank> (a rank of `seer launch`).
inline pid_t rank_pid(pid_t parent, int rank) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = read_text(e.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    int ppid = -1;
    std::sscanf(stat.c_str() + close + 2, "%*c %d", &ppid);
    if (ppid != parent) continue;
    std::ifstream env(e.path() / "environ", std::ios::binary);
    for (std::string var; std::getline(env, var, '\0');)
      if (var == fmt::format("RANK={}", rank)) return std::stoi(name);
  }
  return -1;
}

}  // namespace seer::dist_test
