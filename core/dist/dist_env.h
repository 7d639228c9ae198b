// Which process of a multi-process run this one is, read from the environment that launchers set,
// so that `seer launch`, torchrun and Slurm's srun all start the same binary the same way:
//   RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT       (torchrun, seer launch)
//   SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID                     (srun; read when RANK is unset)
// Neither set: one process. A missing or inconsistent variable is a DistError naming it and its
// value ("RANK=3 with WORLD_SIZE=2: ...").
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace seer::core::dist {

class DistError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;          // which GPU of its host a rank uses
  std::string master_addr;     // host of the rendezvous server (rank 0's, or torchrun's agent's)
  int master_port = 0;
  std::string launcher;        // where the values came from: "" (one process), "RANK" or "Slurm"
  // torchrun's agent already serves a TCPStore at MASTER_ADDR:MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every rank connects to it, none starts one.
  bool agent_store = false;
  std::string store_prefix = "seer/";   // keys of this launch (a torchrun restart gets its own)
  // How long ranks wait for each other to arrive ($SEER_RENDEZVOUS_TIMEOUT seconds).
  std::chrono::milliseconds rendezvous_timeout = std::chrono::seconds(300);

  bool distributed() const { return world_size > 1; }
};

// The value of an environment variable, or nullopt when it is not set.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

DistEnv read_dist_env(const EnvLookup& lookup);
DistEnv read_dist_env();   // the process environment

// "rank 1 of 3" (or "one process").
std::string describe(const DistEnv& env);

}  // namespace seer::core::dist
