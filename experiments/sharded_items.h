// Items of work of a data-parallel stage (sweep's cells, a benchmark cell's samples) spread over
// the ranks of a World, with every result brought to rank 0, which alone writes the run folder.
//
// Rank 0 says which items still need running (a resumed run has the others) and publishes that
// list; its k-th item goes to rank k % N, so the shares differ by at most one item and do not
// depend on anything but the list. Each rank runs its share with the same code and seeds as one
// process; rank 0 keeps its own results as they finish and the others' as they come in.
//
// The results travel as JSON text through the rendezvous store (World::publish / await) rather
// than a collective: the shares take different times, so the other ranks never stop to meet rank
// 0, and results are small (a cell's numbers, a sample's record). Rank r publishes its j-th
// finished result under "<name>/<r>/<j>" as {"key": ..., "result": ...}. After its own j-th item
// rank 0 takes every other rank's j-th (waiting for it if need be: items cost about the same, so
// this costs rank 0 at most about one item in all), which keeps what is written close behind what
// was run: a killed run loses little more than the items that were running. A rank whose share
// throws publishes {"error": what} instead, so that rank 0 stops with an error naming it; a rank
// killed by a signal is named by `seer launch`, which then stops the others.
//
//   std::vector<std::string> pending = ...;                  // rank 0's list; others pass {}
//   run_sharded_items(world, "sweep/cells", pending,
//       [&](const std::vector<std::string>& mine, const ItemDone& done) {
//         for (const auto& key : mine) done(key, run_one(key));
//       },
//       [&](const std::string& key, nlohmann::json result) { write(key, result); });
#pragma once

#include "core/dist/world.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

namespace seer::experiments {

using ItemDone = std::function<void(const std::string& key, nlohmann::json result)>;
using RunShare = std::function<void(const std::vector<std::string>& mine, const ItemDone& done)>;

// `pending`: on rank 0 the keys of the items to run, in order (unique, non-empty strings);
// ignored on the other ranks. `run(mine, done)` runs this rank's items and calls done(key, result)
// once for each, one call at a time; it is not called for an empty share. `keep(key, result)` runs
// on rank 0 only, one call at a time, once for every pending item: for its own from within done,
// for the others' in rounds (after its own j-th item, every rank's j-th), then the rest. With
// `name` the items are told apart from other sets of the same run (unique per call in a run).
// Throws on rank 0 when another rank's share failed, naming the rank.
void run_sharded_items(const core::dist::World& world, const std::string& name,
                       const std::vector<std::string>& pending, const RunShare& run,
                       const ItemDone& keep);

}  // namespace seer::experiments
