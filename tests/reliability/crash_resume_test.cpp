// Crash injection (issue 16): the stages capture, distill, sweep and eval_ruler of a tiny pipeline
// (tests/reliability/fixtures/crash_pipeline.yaml) are killed with SIGKILL at random moments and
// resumed by running the same `seer run` into the same folder, until the pipeline finishes. After
// every kill, nothing a reader would trust may be half-written (stage_outputs_util.h); at the end
// every stage's outputs must equal those of an uninterrupted run: capture contents, gate weights
// and optimiser states bit for bit, every result and sample record but its timings.
//
// A kill aims at the first incomplete stage that still has kills to take: it waits for the stage
// to start (its `.started` marker is rewritten), then a uniform random time up to the stage's
// length in the uninterrupted run, and counts for the stage that was running (the first without
// `.done`). A round runs the pipeline from an empty folder; rounds repeat until every stage has
// had its kills. Each stage prints "kills: N, resumed equal: N".
//   SEER_CRASH_KILLS=N   kills per stage (default 2, the CI run; >= 20 for a campaign)
//   SEER_CRASH_SEED=S    replay the kill times of a printed seed
//   build/tests/seer_reliability_tests "[crash]"
#include "catch.h"
#include "stage_outputs_util.h"
#include "tiny_pipeline_util.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <thread>

namespace fs = std::filesystem;
using namespace seer::test;

namespace {

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::stoll(v) : fallback;
}

struct StageTally {
  int64_t kills = 0;
  int64_t resumed_equal = 0;
};

// The first stage without its `.done` marker (the one running, or next to run); "" when all are.
std::string first_incomplete_stage() {
  for (const auto& s : pipeline_stages())
    if (!pipeline_stage_complete(s)) return s;
  return "";
}

// The first stage from `from` on that still has kills to take.
std::string next_target(const std::string& from, const std::map<std::string, StageTally>& tally,
                        int64_t kills_per_stage) {
  bool reached = false;
  for (const auto& s : pipeline_stages()) {
    reached = reached || s == from;
    if (reached && tally.at(s).kills < kills_per_stage) return s;
  }
  return "";
}

// One round (see the file's head): the pipeline from an empty folder, run again after every kill
// until it completes. Returns the round's kills per stage.
std::map<std::string, int64_t> kill_and_resume_round(const ReferenceRun& reference,
                                                     int64_t kills_per_stage, std::mt19937_64& rng,
                                                     std::map<std::string, StageTally>& tally) {
  fs::remove_all(pipeline_run_dir());
  std::map<std::string, int64_t> round_kills;
  for (int attempt = 0; !first_incomplete_stage().empty(); ++attempt) {
    REQUIRE(attempt < 200);
    const std::string target = next_target(first_incomplete_stage(), tally, kills_per_stage);
    const ino_t before = target.empty() ? 0 : pipeline_stage_start_id(target);
    ChildProcess child(pipeline_child({}));
    if (!target.empty() && wait_for_stage_start(child, target, before)) {
      std::uniform_real_distribution<double> delay(0.0, reference.stage_seconds.at(target));
      std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
      if (child.running()) {
        child.kill_now();
        const std::string killed = first_incomplete_stage();
        if (!killed.empty()) {
          ++tally[killed].kills;
          ++round_kills[killed];
        }
        for (const auto& s : pipeline_stages())
          for (const auto& bad : untrustworthy_files(pipeline_stage_dir(s)))
            FAIL_CHECK(fmt::format("after a kill in {}: {}/{}", killed, s, bad));
        continue;
      }
    }
    const ChildExit how = child.wait_for(600);
    if (how.describe() != "exit 0")
      FAIL(fmt::format("a resumed run ended with {}:\n{}", how.describe(), seer_log_tail()));
  }
  return round_kills;
}

}  // namespace

TEST_CASE("stages killed at random moments resume to an uninterrupted run's outputs",
          "[reliability][crash]") {
  const int64_t kills_per_stage = env_int("SEER_CRASH_KILLS", 2);
  const uint64_t seed = static_cast<uint64_t>(env_int("SEER_CRASH_SEED", std::random_device{}()));
  fmt::print("crash injection: seed {} (SEER_CRASH_SEED={} replays it), {} kills per stage\n", seed,
             seed, kills_per_stage);
  INFO("seed " << seed << " (SEER_CRASH_SEED=" << seed << " replays it)");
  const auto t0 = std::chrono::steady_clock::now();
  const ReferenceRun& reference = reference_run();
  for (const auto& s : pipeline_stages())
    fmt::print("crash injection: {:<10} runs {:.2f} s uninterrupted\n", s,
               reference.stage_seconds.at(s));
  std::mt19937_64 rng(seed);
  std::map<std::string, StageTally> tally;
  for (const auto& s : pipeline_stages()) tally[s] = {};

  // A kill that comes after the stage has finished does not count: rounds go on until every
  // stage has had its kills.
  int rounds = 0;
  while (!next_target(pipeline_stages().front(), tally, kills_per_stage).empty() &&
         rounds < 4 * kills_per_stage + 4) {
    ++rounds;
    auto round_kills = kill_and_resume_round(reference, kills_per_stage, rng, tally);
    for (const auto& s : pipeline_stages()) {
      const auto diffs = stage_differences(reference.dir / s, pipeline_stage_dir(s));
      if (diffs.empty()) tally[s].resumed_equal += round_kills[s];
      for (const auto& d : diffs)
        FAIL_CHECK(fmt::format("round {}, {} after {} kill(s): {}/{}", rounds, s, round_kills[s],
                               s, d));
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t total = 0;
  for (const auto& s : pipeline_stages()) {
    fmt::print("crash injection: {:<10} kills: {}, resumed equal: {}\n", s, tally[s].kills,
               tally[s].resumed_equal);
    total += tally[s].kills;
  }
  fmt::print("crash injection: {} kills in {} rounds, {:.1f} s (uninterrupted run {:.1f} s), seed "
             "{}\n", total, rounds, seconds, reference.seconds, seed);
  for (const auto& s : pipeline_stages()) {
    CAPTURE(s);
    CHECK(tally[s].kills >= kills_per_stage);
    CHECK(tally[s].resumed_equal == tally[s].kills);
  }
}
