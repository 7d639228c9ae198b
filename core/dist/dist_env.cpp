#include "core/dist/dist_env.h"

#include <fmt/format.h>

#include <cstdlib>

namespace seer::core::dist {
namespace {

int parse_count(const std::string& name, const std::string& value, int min) {
  size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < min || v > 1'000'000)
    throw DistError(fmt::format("{}='{}': expected an integer >= {}", name, value, min));
  return static_cast<int>(v);
}

// RANK and WORLD_SIZE (torchrun, seer launch), with LOCAL_RANK and LOCAL_WORLD_SIZE when set.
void read_rank_variables(const EnvLookup& get, DistEnv& env) {
  const auto rank = get("RANK"), world = get("WORLD_SIZE");
  if (!rank)
    throw DistError(fmt::format("WORLD_SIZE={} is set but RANK is not: a launcher (seer launch, "
                                "torchrun) sets both, RANK to this process's rank in "
                                "0..WORLD_SIZE-1", *world));
  if (!world)
    throw DistError(fmt::format("RANK={} is set but WORLD_SIZE is not: a launcher (seer launch, "
                                "torchrun) sets both, WORLD_SIZE to the number of processes",
                                *rank));
  env.rank = parse_count("RANK", *rank, 0);
  env.world_size = parse_count("WORLD_SIZE", *world, 1);
  if (env.rank >= env.world_size)
    throw DistError(fmt::format("RANK={} with WORLD_SIZE={}: RANK must be in 0..{}", env.rank,
                                env.world_size, env.world_size - 1));
  env.local_rank = env.rank;
  if (const auto local = get("LOCAL_RANK")) env.local_rank = parse_count("LOCAL_RANK", *local, 0);
  if (const auto local_world = get("LOCAL_WORLD_SIZE")) {
    const int n = parse_count("LOCAL_WORLD_SIZE", *local_world, 1);
    if (env.local_rank >= n)
      throw DistError(fmt::format("LOCAL_RANK={} with LOCAL_WORLD_SIZE={}: LOCAL_RANK must be in "
                                  "0..{}", env.local_rank, n, n - 1));
  }
  env.launcher = "RANK";
}

// srun's task variables: one task per rank.
void read_slurm_variables(const EnvLookup& get, DistEnv& env) {
  const auto procid = get("SLURM_PROCID"), ntasks = get("SLURM_NTASKS");
  if (!ntasks)
    throw DistError(fmt::format("SLURM_PROCID={} is set but SLURM_NTASKS is not (srun sets both)",
                                *procid));
  env.rank = parse_count("SLURM_PROCID", *procid, 0);
  env.world_size = parse_count("SLURM_NTASKS", *ntasks, 1);
  if (env.rank >= env.world_size)
    throw DistError(fmt::format("SLURM_PROCID={} with SLURM_NTASKS={}: SLURM_PROCID must be in "
                                "0..{}", env.rank, env.world_size, env.world_size - 1));
  env.local_rank = 0;
  if (const auto local = get("SLURM_LOCALID"))
    env.local_rank = parse_count("SLURM_LOCALID", *local, 0);
  env.launcher = "Slurm";
}

// MASTER_ADDR and MASTER_PORT. Under Slurm they may be left out: one node means this host, and the
// port derives from the job id, the same in every task of the job and different between jobs.
void read_master(const EnvLookup& get, DistEnv& env) {
  const bool slurm = env.launcher == "Slurm";
  if (const auto addr = get("MASTER_ADDR"); addr && !addr->empty()) {
    env.master_addr = *addr;
  } else if (slurm && get("SLURM_NNODES").value_or("1") == "1") {
    env.master_addr = "127.0.0.1";
  } else if (slurm) {
    throw DistError(fmt::format(
        "MASTER_ADDR is not set and the job spans SLURM_NNODES={} nodes: set it to the first node "
        "in the batch script, export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" "
        "| head -n 1)", get("SLURM_NNODES").value_or("?")));
  } else {
    throw DistError(fmt::format("MASTER_ADDR is not set (WORLD_SIZE={}): set it to the host of "
                                "rank 0 on every rank (seer launch and torchrun set it)",
                                env.world_size));
  }
  if (const auto port = get("MASTER_PORT"); port && !port->empty()) {
    env.master_port = parse_count("MASTER_PORT", *port, 1);
    if (env.master_port > 65535)
      throw DistError(fmt::format("MASTER_PORT={}: expected a port in 1..65535", *port));
  } else if (slurm && get("SLURM_JOB_ID")) {
    env.master_port = 20000 + parse_count("SLURM_JOB_ID", *get("SLURM_JOB_ID"), 0) % 10000;
  } else {
    throw DistError(fmt::format("MASTER_PORT is not set (WORLD_SIZE={}): set it to a free port of "
                                "MASTER_ADDR, the same on every rank (seer launch and torchrun set "
                                "it)", env.world_size));
  }
}

}  // namespace

DistEnv read_dist_env(const EnvLookup& get) {
  DistEnv env;
  if (get("RANK") || get("WORLD_SIZE")) {
    read_rank_variables(get, env);
  } else if (get("SLURM_PROCID")) {
    read_slurm_variables(get, env);
  } else {
    return env;
  }
  if (!env.distributed()) return env;
  read_master(get, env);
  env.agent_store = get("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  if (const auto restart = get("TORCHELASTIC_RESTART_COUNT"))
    env.store_prefix = fmt::format("seer/{}/", *restart);
  if (const auto t = get("SEER_RENDEZVOUS_TIMEOUT"))
    env.rendezvous_timeout = std::chrono::seconds(parse_count("SEER_RENDEZVOUS_TIMEOUT", *t, 1));
  return env;
}

DistEnv read_dist_env() {
  return read_dist_env([](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  });
}

std::string describe(const DistEnv& env) {
  if (!env.distributed()) return "one process";
  return fmt::format("rank {} of {}", env.rank, env.world_size);
}

}  // namespace seer::core::dist
