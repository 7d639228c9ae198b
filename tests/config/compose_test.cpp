// Composition rules: defaults lists, _self_, packages, overrides, interpolation, and every error.
#include "config_test_util.h"

#include <cstdlib>

using seer::test::compose_fixture;
using seer::test::config_error_of;
using seer::test::Contains;

TEST_CASE("defaults merge under the group key and own values override them", "[config]") {
  const auto c = compose_fixture("basic");
  const auto& t = c.tree;
  CHECK(t.at("model.layers").as<int>() == 3);           // experiment's own value wins
  CHECK(t.at("model.hidden").as<int>() == 64);          // from model/tiny.yaml
  CHECK(t.at("model.rope.theta").as<double>() == 10000.0);
  CHECK(t.at("sparsity.policy").as<std::string>() == "threshold");
  CHECK(c.choices.at("model") == "tiny");
  CHECK(c.choices.at("sparsity") == "threshold");
  CHECK_FALSE(t.has("defaults"));
  CHECK_THAT(t.source_of("model.layers"), Contains("experiment/basic.yaml"));
  CHECK_THAT(t.source_of("model.hidden"), Contains("model/tiny.yaml"));
}

TEST_CASE("_self_ first lets the defaults override the experiment", "[config]") {
  const auto c = compose_fixture("self_first");
  CHECK(c.tree.at("model.layers").as<int>() == 2);
}

TEST_CASE("plain file entries and nested defaults", "[config]") {
  const auto c = compose_fixture("with_base");
  CHECK(c.tree.at("train.steps").as<int>() == 7);
  CHECK(c.tree.at("train.lr").as<double>() == 0.001);
  const auto big = compose_fixture("basic", {"model=big"});
  CHECK(big.tree.at("model.hidden").as<int>() == 4096);
  CHECK(big.tree.at("model.layers").as<int>() == 3);   // experiment still overrides
  CHECK(big.tree.at("model.rope.scaling").as<std::string>() == "none");   // from tiny via big
}

TEST_CASE("@package _global_ merges a group file at the root", "[config]") {
  const auto c = compose_fixture("global_pkg");
  CHECK(c.tree.at("train.steps").as<int>() == 3);
  CHECK(c.tree.at("extra_root_key").as<int>() == 1);
  CHECK_FALSE(c.tree.has("train.train"));
}

TEST_CASE("command-line overrides", "[config]") {
  SECTION("set an existing key, parsed as YAML") {
    const auto c = compose_fixture("basic", {"model.hidden=128", "eval.contexts=[1, 2, 3]"});
    CHECK(c.tree.at("model.hidden").as<int>() == 128);
    CHECK(c.tree.at("eval.contexts").size() == 3);
    CHECK(c.tree.source_of("model.hidden") == "command line");
  }
  SECTION("swap a group option") {
    const auto c = compose_fixture("basic", {"sparsity=topk"});
    CHECK(c.tree.at("sparsity.policy").as<std::string>() == "topk");
    CHECK(c.tree.at("sparsity.nz_ratio").as<double>() == 0.1);
    CHECK_FALSE(c.tree.has("sparsity.tau"));   // the old option's keys are gone
  }
  SECTION("add a key with +, add-or-set with ++") {
    const auto c = compose_fixture("basic", {"+train.tag2=a", "++train.steps=5", "++new.x=1"});
    CHECK(c.tree.at("train.tag2").as<std::string>() == "a");
    CHECK(c.tree.at("train.steps").as<int>() == 5);
    CHECK(c.tree.at("new.x").as<int>() == 1);
  }
  SECTION("delete a key and drop a group") {
    const auto c = compose_fixture("basic", {"~train.tag", "~sparsity"});
    CHECK_FALSE(c.tree.has("train.tag"));
    CHECK_FALSE(c.tree.has("sparsity"));
  }
  SECTION("add a group with +group=option") {
    const auto c = compose_fixture("with_base", {"+model=tiny"});
    CHECK(c.tree.at("model.layers").as<int>() == 2);
  }
  SECTION("overrides apply before interpolation") {
    const auto c = compose_fixture("basic", {"eval.context=512", "train.steps=20"});
    CHECK(c.tree.at("train.seq_len").as<int>() == 512);
    CHECK(c.tree.at("train.tag").as<std::string>() == "run-20");
  }
}

TEST_CASE("override errors name the key and the value", "[config]") {
  CHECK_THAT(config_error_of([] { compose_fixture("basic", {"a.b=1"}); }),
             Contains("command line") && Contains("a.b") && Contains("+a.b=1"));
  CHECK_THAT(config_error_of([] { compose_fixture("basic", {"+model.hidden=1"}); }),
             Contains("model.hidden") && Contains("exists"));
  CHECK_THAT(config_error_of([] { compose_fixture("basic", {"~nothing.here"}); }),
             Contains("nothing.here"));
  CHECK_THAT(config_error_of([] { compose_fixture("basic", {"model=nope"}); }),
             Contains("nope") && Contains("tiny") && Contains("big"));
  CHECK_THAT(config_error_of([] { compose_fixture("with_base", {"model=tiny"}); }),
             Contains("+model=tiny"));
  CHECK_THAT(config_error_of([] { compose_fixture("basic", {"justtext"}); }),
             Contains("justtext") && Contains("key=value"));
  CHECK_THAT(config_error_of([] { compose_fixture("basic", {"bad..key=1"}); }),
             Contains("bad..key"));
  CHECK_THAT(config_error_of([] { compose_fixture("basic", {"model.hidden=[1,"}); }),
             Contains("model.hidden") && Contains("YAML"));
}

TEST_CASE("interpolation", "[config]") {
  const auto c = compose_fixture("basic");
  CHECK(c.tree.at("train.seq_len").as<int>() == 256);
  CHECK(c.tree.at("train.tag").as<std::string>() == "run-10");
  CHECK(c.tree.at("eval.copy_of_list").IsSequence());
  CHECK(c.tree.at("eval.copy_of_list").size() == 2);

  ::setenv("SEER_TEST_ENV_VALUE", "from-env", 1);
  CHECK(compose_fixture("env_ref").tree.at("home").as<std::string>() == "from-env");
  ::unsetenv("SEER_TEST_ENV_VALUE");
  CHECK(compose_fixture("env_ref").tree.at("home").as<std::string>() == "fallback");

  CHECK_THAT(config_error_of([] { compose_fixture("bad_ref"); }),
             Contains("bad_ref.yaml") && Contains("nowhere.key"));
  CHECK_THAT(config_error_of([] { compose_fixture("cycle"); }), Contains("cycle"));
  // Found by tests/fuzz (fuzz_config): a list item naming its own list recursed without end.
  CHECK_THAT(config_error_of([] { compose_fixture("list_cycle"); }),
             Contains("items[1]") && Contains("interpolation cycle"));
}

TEST_CASE("a value reached by interpolation is blamed on where its source was set", "[config]") {
  // Same file: the key's own source, nothing added.
  const auto plain = compose_fixture("basic");
  CHECK(plain.tree.source_of("train.seq_len") == plain.tree.source_of("eval.context"));
  // eval.context set on the command line reaches train.seq_len through ${eval.context}.
  const auto c = compose_fixture("basic", {"eval.context=512", "train.steps=7"});
  CHECK(c.tree.at("train.seq_len").as<int>() == 512);
  const std::string seq_len = c.tree.source_of("train.seq_len");
  CHECK_THAT(seq_len, Contains("command line") && Contains("${eval.context}") &&
                          Contains("experiment/basic.yaml"));
  CHECK_THAT(c.tree.source_of("train.tag"),
             Contains("command line") && Contains("run-${train.steps}"));
  // A list copied whole takes the source for every item below it.
  const auto l = compose_fixture("basic", {"eval.contexts=[64]"});
  CHECK_THAT(l.tree.source_of("eval.copy_of_list"), Contains("command line"));
}

TEST_CASE("file errors name the file", "[config]") {
  CHECK_THAT(config_error_of([] { compose_fixture("bad_yaml"); }),
             Contains("experiment/bad_yaml.yaml") && Contains("malformed YAML"));
  CHECK_THAT(config_error_of([] { compose_fixture("missing_option"); }),
             Contains("does_not_exist") && Contains("defaults.model"));
  CHECK_THAT(config_error_of([] { compose_fixture("no_such_experiment"); }),
             Contains("no_such_experiment") && Contains("basic"));
  CHECK_THAT(config_error_of([] { compose_fixture("self_include"); }), Contains("cycle"));
}

TEST_CASE("resolved tree prints as YAML that loads back to the same values", "[config]") {
  const auto c = compose_fixture("basic", {"model.hidden=96"});
  const auto again = YAML::Load(c.tree.to_yaml());
  CHECK(again["model"]["hidden"].as<int>() == 96);
  CHECK(again["train"]["seq_len"].as<int>() == 256);
}
