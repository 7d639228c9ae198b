// Which rank a process is, from the variables of torchrun / seer launch or of srun: every missing
// or inconsistent variable is an error naming it and its value; Slurm's defaults for one node;
// how a global batch splits over ranks.
#include "catch.h"

#include "core/dist/dist_env.h"
#include "core/dist/world.h"

#include <ATen/ATen.h>

#include <map>

using namespace seer::core::dist;

namespace {

DistEnv env_of(const std::map<std::string, std::string>& vars) {
  return read_dist_env([&](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

std::string error_of(const std::map<std::string, std::string>& vars) {
  try {
    env_of(vars);
  } catch (const DistError& e) {
    return e.what();
  }
  return "<no error>";
}

const std::map<std::string, std::string> kTorchrun = {
    {"RANK", "1"}, {"WORLD_SIZE", "3"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "3"},
    {"MASTER_ADDR", "10.1.2.3"}, {"MASTER_PORT", "29500"}};

std::map<std::string, std::string> with(std::map<std::string, std::string> vars,
                                        const std::map<std::string, std::string>& changes) {
  for (const auto& [k, v] : changes) vars[k] = v;
  return vars;
}

std::map<std::string, std::string> without(std::map<std::string, std::string> vars,
                                           const std::string& name) {
  vars.erase(name);
  return vars;
}

}  // namespace

TEST_CASE("dist env: no variables is one process", "[distributed][env]") {
  const auto env = env_of({});
  CHECK(env.world_size == 1);
  CHECK(env.rank == 0);
  CHECK_FALSE(env.distributed());
  CHECK(describe(env) == "one process");
  // One rank needs no rendezvous.
  CHECK(env_of({{"RANK", "0"}, {"WORLD_SIZE", "1"}}).world_size == 1);
}

TEST_CASE("dist env: torchrun's variables", "[distributed][env]") {
  const auto env = env_of(kTorchrun);
  CHECK(env.rank == 1);
  CHECK(env.world_size == 3);
  CHECK(env.local_rank == 1);
  CHECK(env.master_addr == "10.1.2.3");
  CHECK(env.master_port == 29500);
  CHECK(env.launcher == "RANK");
  CHECK_FALSE(env.agent_store);
  CHECK(describe(env) == "rank 1 of 3");
  const auto agent = env_of(with(kTorchrun, {{"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                             {"TORCHELASTIC_RESTART_COUNT", "2"},
                                             {"SEER_RENDEZVOUS_TIMEOUT", "7"}}));
  CHECK(agent.agent_store);
  CHECK(agent.store_prefix == "seer/2/");
  CHECK(agent.rendezvous_timeout == std::chrono::seconds(7));
  // RANK wins over Slurm's task variables (torchrun started inside an srun step).
  CHECK(env_of(with(kTorchrun, {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}})).rank == 1);
}

TEST_CASE("dist env: missing and inconsistent variables are named", "[distributed][env]") {
  using seer::test::Contains;
  CHECK_THAT(error_of(with(kTorchrun, {{"RANK", "3"}, {"WORLD_SIZE", "2"}})),
             Contains("RANK=3 with WORLD_SIZE=2") && Contains("0..1"));
  CHECK_THAT(error_of(without(kTorchrun, "WORLD_SIZE")),
             Contains("RANK=1 is set but WORLD_SIZE is not"));
  CHECK_THAT(error_of(without(kTorchrun, "RANK")),
             Contains("WORLD_SIZE=3 is set but RANK is not"));
  CHECK_THAT(error_of(with(kTorchrun, {{"RANK", "one"}})),
             Contains("RANK='one'") && Contains("expected an integer >= 0"));
  CHECK_THAT(error_of(with(kTorchrun, {{"WORLD_SIZE", "0"}})),
             Contains("WORLD_SIZE='0'") && Contains(">= 1"));
  CHECK_THAT(error_of(with(kTorchrun, {{"LOCAL_RANK", "3"}})),
             Contains("LOCAL_RANK=3 with LOCAL_WORLD_SIZE=3"));
  CHECK_THAT(error_of(without(kTorchrun, "MASTER_ADDR")),
             Contains("MASTER_ADDR is not set (WORLD_SIZE=3)"));
  CHECK_THAT(error_of(without(kTorchrun, "MASTER_PORT")),
             Contains("MASTER_PORT is not set (WORLD_SIZE=3)"));
  CHECK_THAT(error_of(with(kTorchrun, {{"MASTER_PORT", "70000"}})),
             Contains("MASTER_PORT=70000") && Contains("1..65535"));
  CHECK_THAT(error_of(with(kTorchrun, {{"SEER_RENDEZVOUS_TIMEOUT", "soon"}})),
             Contains("SEER_RENDEZVOUS_TIMEOUT='soon'"));
}

TEST_CASE("dist env: Slurm's task variables", "[distributed][env]") {
  using seer::test::Contains;
  const std::map<std::string, std::string> srun = {{"SLURM_PROCID", "2"}, {"SLURM_NTASKS", "4"},
                                                   {"SLURM_LOCALID", "0"}, {"SLURM_NNODES", "1"},
                                                   {"SLURM_JOB_ID", "123456"}};
  const auto env = env_of(srun);
  CHECK(env.rank == 2);
  CHECK(env.world_size == 4);
  CHECK(env.local_rank == 0);
  CHECK(env.launcher == "Slurm");
  // One node: this host; the port from the job id, the same in every task of the job.
  CHECK(env.master_addr == "127.0.0.1");
  CHECK(env.master_port == 20000 + 123456 % 10000);
  CHECK(env_of(with(srun, {{"MASTER_ADDR", "node7"}, {"MASTER_PORT", "31000"}})).master_port ==
        31000);
  CHECK_THAT(error_of(with(srun, {{"SLURM_PROCID", "4"}})),
             Contains("SLURM_PROCID=4 with SLURM_NTASKS=4"));
  CHECK_THAT(error_of(without(srun, "SLURM_NTASKS")),
             Contains("SLURM_PROCID=2 is set but SLURM_NTASKS is not"));
  CHECK_THAT(error_of(with(srun, {{"SLURM_NNODES", "2"}})),
             Contains("MASTER_ADDR is not set") && Contains("SLURM_NNODES=2") &&
                 Contains("scontrol show hostnames"));
}

TEST_CASE("shard_of: contiguous parts in rank order, sizes within one", "[distributed]") {
  const int64_t count = GENERATE(1, 5, 6, 16);
  const int size = GENERATE(1, 2, 3);
  CAPTURE(count, size);
  if (count < size) return;
  int64_t next = 0;
  for (int r = 0; r < size; ++r) {
    const Shard s = shard_of(count, r, size);
    CHECK(s.begin == next);
    CHECK((s.size() == count / size || s.size() == count / size + 1));
    next = s.end;
  }
  CHECK(next == count);
}

TEST_CASE("World::single: collectives leave tensors as they are", "[distributed]") {
  const World& w = World::single();
  CHECK(w.size() == 1);
  CHECK(w.is_main());
  at::Tensor t = at::arange(4, at::kFloat);
  w.all_reduce_sum(t);
  w.broadcast(t);
  w.barrier();
  CHECK(at::equal(t, at::arange(4, at::kFloat)));
  CHECK(w.rank_device("cuda") == "cuda");
}
