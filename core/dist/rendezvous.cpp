#include "core/dist/rendezvous.h"

#include "core/dist/error_text.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

namespace seer::core::dist {
namespace {

using Clock = std::chrono::steady_clock;

std::string arrival_key(int rank) { return fmt::format("arrived/{}", rank); }

double seconds(std::chrono::milliseconds t) { return static_cast<double>(t.count()) / 1000.0; }

c10::intrusive_ptr<c10d::Store> open_store(const DistEnv& env) {
  c10d::TCPStoreOptions opts;
  opts.port = static_cast<std::uint16_t>(env.master_port);
  opts.isServer = env.rank == 0 && !env.agent_store;
  opts.waitWorkers = false;   // arrivals are counted below, so a timeout can name who is missing
  opts.timeout = env.rendezvous_timeout;
  try {
    return c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
  } catch (const std::exception& e) {
    if (opts.isServer)
      throw DistError(fmt::format(
          "rank 0 could not serve the rendezvous on MASTER_PORT={}: {} (is another run using the "
          "port? choose another MASTER_PORT)", env.master_port, first_line(e)));
    throw DistError(fmt::format(
        "{} could not reach the rendezvous at MASTER_ADDR={} MASTER_PORT={} within {:.0f} s ({} "
        "serves it): {}", describe(env), env.master_addr, env.master_port,
        seconds(env.rendezvous_timeout), env.agent_store ? "torchrun's agent" : "rank 0",
        first_line(e)));
  }
}

}  // namespace

c10::intrusive_ptr<c10d::Store> rendezvous(const DistEnv& env) {
  const auto start = Clock::now();
  auto store = c10::make_intrusive<c10d::PrefixStore>(env.store_prefix, open_store(env));
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  store->set(arrival_key(env.rank), fmt::format("{} pid {}", host, getpid()));
  store->add("arrivals", 1);
  // Polled rather than waited on, so that a timeout can say which ranks never came.
  while (store->add("arrivals", 0) < env.world_size) {
    if (Clock::now() - start > env.rendezvous_timeout) {
      std::vector<int> missing, arrived;
      for (int r = 0; r < env.world_size; ++r)
        (store->check({arrival_key(r)}) ? arrived : missing).push_back(r);
      throw DistError(fmt::format(
          "rendezvous at MASTER_ADDR={} MASTER_PORT={} timed out after {:.0f} s: rank{} {} of {} "
          "did not arrive (arrived: {}). Start every rank with the same MASTER_ADDR, MASTER_PORT "
          "and WORLD_SIZE{}; SEER_RENDEZVOUS_TIMEOUT sets the wait in seconds",
          env.master_addr, env.master_port, seconds(env.rendezvous_timeout),
          missing.size() == 1 ? "" : "s", fmt::join(missing, ", "), env.world_size,
          fmt::join(arrived, ", "),
          env.launcher == "Slurm" ? " (under Slurm: one srun task per rank)" : ""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return store;
}

}  // namespace seer::core::dist
