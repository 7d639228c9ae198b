#include "experiments/sharded_items.h"

#include <fmt/format.h>

#include <set>
#include <stdexcept>

namespace seer::experiments {
namespace {

std::string message_key(const std::string& name, int rank, int64_t index) {
  return fmt::format("{}/{}/{}", name, rank, index);
}

// A generated answer may hold bytes that are not UTF-8; they travel as U+FFFD, as the sample
// files write them.
std::string message_text(const nlohmann::json& message) {
  return message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

void run_sharded_items(const core::dist::World& world, const std::string& name,
                       const std::vector<std::string>& pending, const RunShare& run,
                       const ItemDone& keep) {
  const int ranks = world.size(), rank = world.rank();
  if (ranks == 1) {
    if (!pending.empty()) run(pending, keep);
    return;
  }
  std::vector<std::string> all = pending;
  if (world.is_main()) {
    const std::set<std::string> unique(pending.begin(), pending.end());
    if (unique.size() != pending.size() || unique.count(""))
      throw std::logic_error(name + ": item keys must be unique and non-empty");
    world.publish(name + "/pending", nlohmann::json(pending).dump());
  } else {
    all = nlohmann::json::parse(world.await(name + "/pending")).get<std::vector<std::string>>();
  }
  std::vector<std::vector<std::string>> shares(static_cast<size_t>(ranks));
  for (size_t k = 0; k < all.size(); ++k) shares[k % static_cast<size_t>(ranks)].push_back(all[k]);
  const auto& mine = shares[static_cast<size_t>(rank)];

  if (!world.is_main()) {
    int64_t sent = 0;
    auto post = [&](const nlohmann::json& message) {
      world.publish(message_key(name, rank, sent++), message_text(message));
    };
    try {
      if (!mine.empty())
        run(mine, [&](const std::string& key, nlohmann::json result) {
          post({{"key", key}, {"result", std::move(result)}});
        });
    } catch (const std::exception& e) {
      post({{"error", e.what()}});
      throw;
    } catch (...) {
      post({{"error", "unknown error"}});
      throw;
    }
    if (sent != static_cast<int64_t>(mine.size()))
      throw std::logic_error(fmt::format("{}: {} results for a share of {} items", name, sent,
                                         mine.size()));
    return;
  }

  std::vector<size_t> received(static_cast<size_t>(ranks), 0);
  auto take = [&](int from, const std::string& text) {
    nlohmann::json message = nlohmann::json::parse(text);
    if (message.contains("error"))
      throw std::runtime_error(fmt::format("{}: rank {} of {} failed: {}", name, from, ranks,
                                           message["error"].get<std::string>()));
    ++received[static_cast<size_t>(from)];
    keep(message.at("key").get<std::string>(), std::move(message.at("result")));
  };
  auto outstanding = [&](int from) {
    return received[static_cast<size_t>(from)] < shares[static_cast<size_t>(from)].size();
  };
  auto take_up_to = [&](size_t count) {
    for (int from = 1; from < ranks; ++from) {
      while (outstanding(from) && received[static_cast<size_t>(from)] < count)
        take(from, world.await(message_key(
                       name, from, static_cast<int64_t>(received[static_cast<size_t>(from)]))));
    }
  };
  size_t own = 0;
  if (!mine.empty())
    run(mine, [&](const std::string& key, nlohmann::json result) {
      keep(key, std::move(result));
      take_up_to(++own);
    });
  take_up_to(all.size());
}

}  // namespace seer::experiments
