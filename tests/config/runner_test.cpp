// The pipeline runner: resolved config saved, stages skipped once complete, re-run when their
// config changes, unknown sections rejected before anything runs.
#include "config_test_util.h"
#include "core/config/config_reader.h"
#include "core/io/atomic_file.h"
#include "experiments/runner.h"
#include "experiments/stage.h"

#include <fstream>

namespace fs = std::filesystem;
using namespace seer;
using seer::test::Contains;

namespace {

int g_runs = 0;

class CountStage final : public experiments::Stage {
 public:
  std::string name() const override { return "count"; }
  std::string summary() const override { return "test stage: writes counter.value"; }
  std::vector<std::string> sections() const override { return {"counter"}; }
  void validate(const config::ConfigTree& c) const override { parse(c); }
  void run(experiments::StageContext& ctx) override {
    ++g_runs;
    io::write_file_atomic(ctx.stage_dir / "value.txt", std::to_string(parse(ctx.config)));
  }
  static int64_t parse(const config::ConfigTree& c) {
    config::ConfigReader r(c, "counter");
    const auto v = r.get<int64_t>("value");
    r.finish();
    return v;
  }
};

// Reads `other` only: re-runs when `counter` changes only because it follows `count`.
class CountOtherStage final : public experiments::Stage {
 public:
  std::string name() const override { return "count_other"; }
  std::string summary() const override { return "test stage: writes other.value"; }
  std::vector<std::string> sections() const override { return {"other"}; }
  void validate(const config::ConfigTree&) const override {}
  void run(experiments::StageContext& ctx) override {
    ++g_runs;
    config::ConfigReader r(ctx.config, "other");
    io::write_file_atomic(ctx.stage_dir / "value.txt", std::to_string(r.get<int64_t>("value")));
  }
};

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::path(SEER_TEST_TMP) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST_CASE("runner writes the resolved config and resumes", "[config]") {
  experiments::register_stage("count", [] { return std::make_unique<CountStage>(); });
  const auto dir = fresh_dir("runner_resume");
  const std::vector<std::string> ov = {"++run.dir=" + dir.string(), "++run.name=r1"};
  g_runs = 0;
  auto composed = test::compose_fixture("pipeline", ov);
  auto result = experiments::run_experiment(composed, "pipeline");
  CHECK(result.run_dir == dir / "pipeline" / "r1");
  CHECK(g_runs == 2);
  CHECK(result.stages_run == 2);
  CHECK(fs::exists(result.run_dir / "config.yaml"));
  CHECK(fs::exists(result.run_dir / "log.txt"));
  CHECK(io::read_file(result.run_dir / "count" / "value.txt") == "1");
  const auto saved = YAML::LoadFile((result.run_dir / "config.yaml").string());
  CHECK(saved["counter"]["value"].as<int>() == 1);

  // Same command again: both stages complete, nothing runs.
  result = experiments::run_experiment(test::compose_fixture("pipeline", ov), "pipeline");
  CHECK(g_runs == 2);
  CHECK(result.stages_skipped == 2);

  // An interrupted stage (no .done marker) runs again; the complete one is skipped.
  fs::remove(result.run_dir / "count_again" / ".done");
  result = experiments::run_experiment(test::compose_fixture("pipeline", ov), "pipeline");
  CHECK(g_runs == 3);
  CHECK(result.stages_run == 1);

  // A changed config re-runs the stages that read it.
  auto changed = ov;
  changed.push_back("counter.value=2");
  result = experiments::run_experiment(test::compose_fixture("pipeline", changed), "pipeline");
  CHECK(g_runs == 5);
  CHECK(io::read_file(result.run_dir / "count" / "value.txt") == "2");
}

TEST_CASE("runner rejects unknown sections and bad stage configs before running", "[config]") {
  experiments::register_stage("count", [] { return std::make_unique<CountStage>(); });
  const auto dir = fresh_dir("runner_errors");
  g_runs = 0;
  const std::vector<std::string> ov = {"++run.dir=" + dir.string()};
  CHECK_THAT(test::config_error_of([&] {
               experiments::run_experiment(test::compose_fixture("unknown_section", ov),
                                           "unknown_section");
             }),
             Contains("unknown_section.yaml") && Contains("typo_section"));
  auto bad = ov;
  bad.push_back("counter.value=many");
  CHECK_THAT(test::config_error_of([&] {
               experiments::run_experiment(test::compose_fixture("pipeline", bad), "pipeline");
             }),
             Contains("counter.value") && Contains("many"));
  auto extra = ov;
  extra.push_back("+counter.typo=1");
  CHECK_THAT(test::config_error_of([&] {
               experiments::run_experiment(test::compose_fixture("pipeline", extra), "pipeline");
             }),
             Contains("counter.typo") && Contains("unknown key"));
  CHECK(g_runs == 0);
}

TEST_CASE("run names follow run.name, else the overrides", "[config]") {
  CHECK(experiments::run_name_for(test::compose_fixture("pipeline")) == "default");
  CHECK(experiments::run_name_for(test::compose_fixture("pipeline", {"counter.value=3"})) ==
        "counter.value=3");
  CHECK(experiments::stable_hash("abc") == experiments::stable_hash("abc"));
  CHECK(experiments::stable_hash("abc") != experiments::stable_hash("abd"));
}

TEST_CASE("a config change moves old outputs aside and re-runs everything downstream", "[config]") {
  experiments::register_stage("count", [] { return std::make_unique<CountStage>(); });
  experiments::register_stage("count_other", [] { return std::make_unique<CountOtherStage>(); });
  const auto dir = fresh_dir("runner_chain");
  const std::vector<std::string> ov = {"++run.dir=" + dir.string(), "++run.name=c"};
  g_runs = 0;
  auto result = experiments::run_experiment(test::compose_fixture("pipeline_chain", ov), "pipeline_chain");
  CHECK(g_runs == 2);
  // A partial output of the first config, as an interrupted stage would leave it.
  io::write_file_atomic(result.run_dir / "count" / "partial.bin", "old");

  auto changed = ov;
  changed.push_back("counter.value=2");
  result = experiments::run_experiment(test::compose_fixture("pipeline_chain", changed), "pipeline_chain");
  CHECK(g_runs == 4);   // count changed; count_other reads only `other` but follows count
  CHECK(result.stages_run == 2);
  CHECK_FALSE(fs::exists(result.run_dir / "count" / "partial.bin"));
  CHECK(io::read_file(result.run_dir / "count.previous" / "partial.bin") == "old");
  CHECK(io::read_file(result.run_dir / "count" / "value.txt") == "2");

  // Interrupted under the same config (no .done, same .started): resumes in place.
  io::write_file_atomic(result.run_dir / "count_other" / "partial.bin", "mine");
  fs::remove(result.run_dir / "count_other" / ".done");
  result = experiments::run_experiment(test::compose_fixture("pipeline_chain", changed), "pipeline_chain");
  CHECK(g_runs == 5);
  CHECK(io::read_file(result.run_dir / "count_other" / "partial.bin") == "mine");
}

TEST_CASE("a stage entry's overrides reach its config, validation and hash only", "[config]") {
  experiments::register_stage("count", [] { return std::make_unique<CountStage>(); });
  experiments::register_stage("count_other", [] { return std::make_unique<CountOtherStage>(); });
  const auto dir = fresh_dir("runner_stage_overrides");
  const std::vector<std::string> ov = {"++run.dir=" + dir.string(), "++run.name=s"};
  g_runs = 0;
  auto composed = test::compose_fixture("pipeline_overrides", ov);
  const auto entries = experiments::parse_stage_list(composed.tree);
  REQUIRE(entries.size() == 4);
  CHECK(entries[1].overrides == std::vector<std::string>{"counter=seven"});
  // A group choice and an interpolated value, each for one stage; the run's config is untouched.
  CHECK(experiments::stage_config(composed, entries[1]).at("counter.value").as<int>() == 7);
  CHECK(experiments::stage_config(composed, entries[2]).at("counter.value").as<int>() == 10);
  CHECK(composed.tree.at("counter.value").as<int>() == 1);
  // What `seer show` prints about them (${...} in an override resolves against the run's config).
  CHECK(experiments::stage_override_lines(composed) ==
        std::vector<std::string>{"stage count_seven (count) overrides: counter=seven",
                                 "  counter.value: 7 (run: 1)",
                                 "stage count_ref (count) overrides: counter.value=10",
                                 "  counter.value: 10 (run: 1)"});
  auto result = experiments::run_experiment(composed, "pipeline_overrides");
  CHECK(g_runs == 4);
  CHECK(io::read_file(result.run_dir / "count" / "value.txt") == "1");
  CHECK(io::read_file(result.run_dir / "count_seven" / "value.txt") == "7");
  CHECK(io::read_file(result.run_dir / "count_ref" / "value.txt") == "10");
  CHECK(fs::exists(result.run_dir / "count_seven" / "config.yaml"));
  CHECK_FALSE(fs::exists(result.run_dir / "count" / "config.yaml"));

  // The command line applies before the entry's overrides: count_ref's interpolation follows
  // other.value, so it re-runs (and count_other after it); the stages before it are skipped.
  auto changed = ov;
  changed.push_back("other.value=3");
  result = experiments::run_experiment(test::compose_fixture("pipeline_overrides", changed),
                                       "pipeline_overrides");
  CHECK(io::read_file(result.run_dir / "count_ref" / "value.txt") == "3");
  CHECK(result.stages_skipped == 2);
  CHECK(result.stages_run == 2);

  // Errors name the experiment file, the stage id and the override.
  auto bad_entry = [&](const std::string& entry) {
    auto o = ov;
    o.push_back("stages=[count, count_other, " + entry + "]");
    return test::config_error_of([&] {
      experiments::validate_experiment(test::compose_fixture("pipeline_overrides", o));
    });
  };
  CHECK_THAT(bad_entry("{stage: count, id: b, overrides: [counter.valu=2]}"),
             Contains("stages.b.overrides") && Contains("counter.valu"));
  CHECK_THAT(bad_entry("{stage: count, id: b, overrides: [counter.value=many]}"),
             Contains("stages.b.overrides") && Contains("counter.value") && Contains("many"));
  CHECK_THAT(bad_entry("{stage: count, id: b, overrides: [other.value=2]}"),
             Contains("stages.b.overrides") && Contains("other.value=2") &&
                 Contains("reads only counter"));
  CHECK_THAT(bad_entry("{stage: count, id: b, overrides: [counter=nine]}"),
             Contains("stages.b.overrides") && Contains("counter/nine.yaml"));
  CHECK_THAT(bad_entry("{stage: count, id: b, overrides: counter.value=2}"),
             Contains("stages.b.overrides") && Contains("expected a list"));
  CHECK_THAT(bad_entry("{stage: count, id: b, override: [counter.value=2]}"),
             Contains("stages.b.override") && Contains("unknown key"));
}

TEST_CASE("stages=[...] of the experiment's own ids runs a subset in the whole run's folder",
          "[config]") {
  experiments::register_stage("count", [] { return std::make_unique<CountStage>(); });
  experiments::register_stage("count_other", [] { return std::make_unique<CountOtherStage>(); });
  const auto dir = fresh_dir("runner_subset");
  const std::vector<std::string> ov = {"++run.dir=" + dir.string()};
  auto with = [&](std::vector<std::string> extra) {
    auto o = ov;
    o.insert(o.end(), extra.begin(), extra.end());
    return experiments::select_stages(test::compose_fixture("pipeline_chain", o));
  };
  // Only the downstream stage, before the upstream one ran: it runs (its inputs could come from
  // elsewhere) and the log says what is missing.
  g_runs = 0;
  auto sel = with({"stages=[count_other]"});
  REQUIRE(sel.only == std::vector<std::string>{"count_other"});
  auto result = experiments::run_experiment(sel.full, "pipeline_chain", sel.only);
  CHECK(g_runs == 1);
  CHECK(result.stages_run == 1);
  CHECK_FALSE(fs::exists(result.run_dir / "count"));
  CHECK_THAT(io::read_file(result.run_dir / "log.txt"),
             Contains("count: not selected and not complete"));
  // The stage list is not part of the name: the folder of the whole experiment.
  CHECK(result.run_dir.filename() ==
        experiments::run_name_for(test::compose_fixture("pipeline_chain", ov)));

  // Then the first alone (`other`, read only by the skipped stage, is no unknown section); then
  // the whole experiment has nothing left to do: the subsets' hashes are the whole run's.
  sel = with({"stages=[count]"});
  result = experiments::run_experiment(sel.full, "pipeline_chain", sel.only);
  CHECK(g_runs == 2);
  CHECK(io::read_file(result.run_dir / "count" / "value.txt") == "1");
  sel = with({});
  CHECK(sel.only.empty());
  result = experiments::run_experiment(sel.full, "pipeline_chain", sel.only);
  CHECK(result.stages_run == 0);
  CHECK(g_runs == 2);

  // The skipped stage's section is still checked for unknown keys.
  CHECK_THROWS_WITH(experiments::run_experiment(
                        with({"stages=[count_other]", "+counter.bogus=1"}).full, "pipeline_chain",
                        {"count_other"}),
                    Contains("counter.bogus"));
  // A list naming another stage replaces the experiment's list, as before.
  sel = with({"stages=[count, {stage: count_other, id: again}]"});
  CHECK(sel.only.empty());
  CHECK(experiments::parse_stage_list(sel.full.tree).size() == 2);
}
