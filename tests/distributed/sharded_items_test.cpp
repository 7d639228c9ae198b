// experiments/sharded_items.h with the ranks of a World as threads of this process (a real
// TCPStore and gloo group on 127.0.0.1): item k of the pending list runs on rank k % N, rank 0
// keeps every result once, and a rank whose share throws makes rank 0 stop naming it.
#include "catch.h"

#include "dist_test_util.h"
#include "experiments/sharded_items.h"

#include <exception>
#include <map>
#include <thread>

using namespace seer;
using seer::test::Contains;

namespace {

// Runs body(world) on `ranks` threads, one World each; the exception each thread ended with.
std::vector<std::exception_ptr> on_ranks(int ranks,
                                         const std::function<void(const core::dist::World&)>& body) {
  const int port = dist_test::free_port();
  std::vector<std::exception_ptr> errors(static_cast<size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      try {
        core::dist::DistEnv env;
        env.rank = r;
        env.world_size = ranks;
        env.local_rank = r;
        env.master_addr = "127.0.0.1";
        env.master_port = port;
        env.launcher = "RANK";
        env.rendezvous_timeout = std::chrono::seconds(60);
        const auto world = core::dist::World::connect(env, "gloo");
        body(*world);
        world->barrier();
      } catch (...) {
        errors[static_cast<size_t>(r)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

std::string message_of(const std::exception_ptr& e) {
  try {
    if (e) std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  }
  return "";
}

}  // namespace

TEST_CASE("sharded items: item k runs on rank k % N; rank 0 keeps each result once",
          "[distributed][shard]") {
  for (int ranks : {2, 3}) {
    CAPTURE(ranks);
    std::vector<std::string> pending;
    for (int k = 0; k < 7; ++k) pending.push_back(fmt::format("item {}", k));
    std::map<std::string, nlohmann::json> kept;
    int kept_calls = 0, kept_elsewhere = 0;   // Catch's assertions stay on the test's thread
    const auto errors = on_ranks(ranks, [&](const core::dist::World& world) {
      experiments::run_sharded_items(
          world, "test/items", world.is_main() ? pending : std::vector<std::string>{},
          [&](const std::vector<std::string>& mine, const experiments::ItemDone& done) {
            for (const auto& key : mine) done(key, {{"rank", world.rank()}, {"key", key}});
          },
          [&](const std::string& key, nlohmann::json result) {
            ++kept_calls;
            if (!world.is_main()) ++kept_elsewhere;
            kept.emplace(key, std::move(result));
          });
    });
    for (const auto& e : errors) CHECK(message_of(e) == "");
    CHECK(kept_calls == 7);
    CHECK(kept_elsewhere == 0);
    REQUIRE(kept.size() == pending.size());
    for (int k = 0; k < 7; ++k) {
      const auto& r = kept.at(pending[static_cast<size_t>(k)]);
      CHECK(r["rank"] == k % ranks);
      CHECK(r["key"] == pending[static_cast<size_t>(k)]);
    }
  }
}

TEST_CASE("sharded items: a rank whose share throws stops rank 0, named", "[distributed][shard]") {
  std::vector<std::string> pending = {"a", "b", "c", "d", "e"};
  const auto errors = on_ranks(2, [&](const core::dist::World& world) {
    experiments::run_sharded_items(
        world, "test/failing", world.is_main() ? pending : std::vector<std::string>{},
        [&](const std::vector<std::string>& mine, const experiments::ItemDone& done) {
          for (const auto& key : mine) {
            if (key == "d") throw std::runtime_error("no data for d");
            done(key, key);
          }
        },
        [&](const std::string&, nlohmann::json) {});
  });
  CHECK_THAT(message_of(errors[0]), Contains("test/failing: rank 1 of 2 failed: no data for d"));
  CHECK(message_of(errors[1]) == "no data for d");
}
