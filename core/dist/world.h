// The processes of one run and what they do together, on libtorch's c10d (DESIGN.md, "Where the
// work runs"): a rendezvous through a TCPStore (core/dist/rendezvous.h), then collectives on a
// gloo or NCCL process group. A single-process World has no store and no group: its collectives
// return their input unchanged, so code that calls them runs the same with one process.
//
// Every rank must call the collectives in the same order with tensors of the same size; a rank
// that stopped makes the others' next collective fail with a DistError instead of hanging.
#pragma once

#include "core/dist/dist_env.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

namespace seer::core::dist {

class World {
 public:
  // One process.
  static const World& single();
  // Meets the other ranks of `env` and opens the collective backend ("gloo" | "nccl"). With
  // env.world_size 1 nothing is opened.
  static std::unique_ptr<World> connect(const DistEnv& env, const std::string& backend);
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  int rank() const { return env_.rank; }
  int size() const { return env_.world_size; }
  bool is_main() const { return env_.rank == 0; }
  const DistEnv& env() const { return env_; }
  const std::string& backend() const { return backend_name_; }
  std::string describe() const;   // "rank 1 of 3 (gloo)"

  // In place, on any device (copied to the backend's device and back when they differ).
  void all_reduce_sum(at::Tensor& t) const;
  void broadcast(at::Tensor& t, int root = 0) const;
  void barrier() const;

  // Messages through the rendezvous store: rank 0 publishes what it decided, the others await it
  // for as long as rank 0 takes (a stage it runs alone may take hours); rank 0 stopping ends the
  // wait with a DistError.
  void publish(const std::string& key, const std::string& value) const;
  std::string await(const std::string& key) const;

  // The device this rank uses for `device`: with several ranks, "cuda" means the host's GPU
  // LOCAL_RANK ("cuda:<local_rank>"); anything else is kept.
  std::string rank_device(const std::string& device) const;

 private:
  World() = default;
  struct Group;
  DistEnv env_;
  std::string backend_name_ = "none";
  std::unique_ptr<Group> group_;
};

// The backend for gates trained on `device`: $SEER_DIST_BACKEND (gloo | nccl) when set, else nccl
// for a CUDA device when the build has it, else gloo.
std::string choose_backend(const std::string& device);

// Rank `rank`'s part of `count` items split over `size` ranks: [begin, end), contiguous, in rank
// order, the sizes differing by at most one.
struct Shard {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
};
Shard shard_of(int64_t count, int rank, int size);

}  // namespace seer::core::dist
