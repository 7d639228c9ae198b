#include "core/dist/world.h"

#include "core/dist/backends.h"
#include "core/dist/error_text.h"
#include "core/dist/rendezvous.h"

#include <ATen/ATen.h>
#include <c10/util/Logging.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <fmt/format.h>

#include <chrono>
#include <cstdlib>

namespace seer::core::dist {

struct World::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  at::Device device = at::kCPU;   // where the backend's tensors live
};

namespace {

// A stage that rank 0 runs alone may take hours; the wait is bounded only so the socket timeout
// stays representable.
constexpr auto kAwaitLimit = std::chrono::hours(24 * 30);

// c10d logs each retry of a connection, with a C++ backtrace, while the ranks start one after
// the other; what comes of it reaches the user as a DistError, so meanwhile only fatal messages
// pass.
class QuietC10Logging {
 public:
  QuietC10Logging() : saved_(FLAGS_caffe2_log_level) { FLAGS_caffe2_log_level = 3; }
  ~QuietC10Logging() { FLAGS_caffe2_log_level = saved_; }

 private:
  int saved_;
};

// Runs one collective on `t` (copied to `device` and back when it lives elsewhere).
template <typename Collective>
void run_collective(const World& world, const char* what, at::Tensor& t, const at::Device& device,
                    Collective&& collective) {
  std::vector<at::Tensor> on_device = {t.device() == device && t.is_contiguous()
                                           ? t
                                           : t.to(device).contiguous()};
  try {
    collective(on_device)->wait();
  } catch (const std::exception& e) {
    throw DistError(fmt::format("{}: {} failed (has another rank stopped?): {}", world.describe(),
                                what, first_line(e)));
  }
  if (!on_device[0].is_same(t)) t.copy_(on_device[0]);
}

}  // namespace

const World& World::single() {
  static const World world;
  return world;
}

std::unique_ptr<World> World::connect(const DistEnv& env, const std::string& backend) {
  std::unique_ptr<World> w(new World());
  w->env_ = env;
  if (!env.distributed()) return w;
  if (backend != "gloo" && backend != "nccl")
    throw DistError(fmt::format("backend '{}': expected gloo | nccl", backend));
  w->backend_name_ = backend;
  w->group_ = std::make_unique<Group>();
  const QuietC10Logging quiet;
  w->group_->store = rendezvous(env);
  const auto store = c10::make_intrusive<c10d::PrefixStore>(backend + "/", w->group_->store);
  try {
    if (backend == "nccl") {
      w->group_->backend = make_nccl_backend(store, env);
      w->group_->device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(env.local_rank));
    } else {
      w->group_->backend = make_gloo_backend(store, env);
    }
  } catch (const DistError&) {
    throw;
  } catch (const std::exception& e) {
    throw DistError(fmt::format("{}: the {} process group did not start: {}", dist::describe(env),
                                backend, first_line(e)));
  }
  return w;
}

World::~World() = default;

std::string World::describe() const {
  if (size() == 1) return "one process";
  return fmt::format("rank {} of {} ({})", rank(), size(), backend_name_);
}

void World::all_reduce_sum(at::Tensor& t) const {
  if (!group_) return;
  run_collective(*this, "all-reduce", t, group_->device, [&](std::vector<at::Tensor>& v) {
    c10d::AllreduceOptions opts;
    opts.reduceOp = c10d::ReduceOp::SUM;
    return group_->backend->allreduce(v, opts);
  });
}

void World::broadcast(at::Tensor& t, int root) const {
  if (!group_) return;
  run_collective(*this, "broadcast", t, group_->device, [&](std::vector<at::Tensor>& v) {
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    return group_->backend->broadcast(v, opts);
  });
}

void World::barrier() const {
  if (!group_) return;
  try {
    group_->backend->barrier()->wait();
  } catch (const std::exception& e) {
    throw DistError(fmt::format("{}: barrier failed (has another rank stopped?): {}", describe(),
                                first_line(e)));
  }
}

void World::publish(const std::string& key, const std::string& value) const {
  if (!group_) return;
  group_->store->set(key, std::vector<uint8_t>(value.begin(), value.end()));
}

std::string World::await(const std::string& key) const {
  if (!group_) throw DistError("await('" + key + "') in a single-process run: nobody publishes it");
  try {
    group_->store->wait({key}, kAwaitLimit);
    const auto bytes = group_->store->get(key);
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::exception& e) {
    throw DistError(fmt::format("{}: lost the rendezvous server while waiting for rank 0 ('{}'); "
                                "rank 0 has probably stopped: {}", describe(), key, first_line(e)));
  }
}

std::string World::rank_device(const std::string& device) const {
  if (size() > 1 && device == "cuda") return fmt::format("cuda:{}", env_.local_rank);
  return device;
}

std::string choose_backend(const std::string& device) {
  if (const char* forced = std::getenv("SEER_DIST_BACKEND"); forced != nullptr && *forced) {
    const std::string b = forced;
    if (b != "gloo" && b != "nccl")
      throw DistError(fmt::format("SEER_DIST_BACKEND='{}': expected gloo | nccl", b));
    return b;
  }
  return device.rfind("cuda", 0) == 0 && nccl_built() ? "nccl" : "gloo";
}

Shard shard_of(int64_t count, int rank, int size) {
  return {count * rank / size, count * (rank + 1) / size};
}

}  // namespace seer::core::dist
