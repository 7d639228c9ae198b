// Typed access: required values, defaults, wrong types and unknown keys, each naming file and key.
#include "config_test_util.h"
#include "core/config/config_reader.h"

using seer::config::ConfigReader;
using seer::test::compose_fixture;
using seer::test::config_error_of;
using seer::test::Contains;

TEST_CASE("typed reads with defaults", "[config]") {
  const auto c = compose_fixture("basic");
  ConfigReader r(c.tree, "model");
  CHECK(r.get<int64_t>("layers") == 3);
  CHECK(r.get<int64_t>("absent", 5) == 5);
  CHECK_FALSE(r.get_optional<double>("absent2").has_value());
  const auto rope = r.child("rope");
  CHECK(rope.get<double>("theta") == 10000.0);
  CHECK(rope.get_choice("scaling", {"none", "linear"}) == "none");
  rope.finish();
  CHECK(ConfigReader(c.tree, "eval").get<std::vector<int64_t>>("contexts") ==
        std::vector<int64_t>{128, 256});
}

TEST_CASE("reader errors name the source file, key path and value", "[config]") {
  const auto c = compose_fixture("basic", {"model.hidden=wide"});
  ConfigReader r(c.tree, "model");
  CHECK_THAT(config_error_of([&] { r.get<int64_t>("hidden"); }),
             Contains("command line") && Contains("model.hidden") && Contains("'wide'") &&
                 Contains("integer"));
  CHECK_THAT(config_error_of([&] { r.get<int64_t>("missing_key"); }),
             Contains("model.missing_key") && Contains("missing required"));
  CHECK_THAT(config_error_of([&] { r.get<bool>("layers"); }), Contains("boolean"));
  CHECK_THAT(config_error_of([&] { r.child("rope").get_choice("scaling", {"linear", "yarn"}); }),
             Contains("model/tiny.yaml") && Contains("linear | yarn"));

  ConfigReader partial(c.tree, "model");
  partial.get<int64_t>("layers");
  partial.mark_used("hidden");
  CHECK_THAT(config_error_of([&] { partial.finish(); }),
             Contains("model/tiny.yaml") && Contains("model.rope") && Contains("unknown key"));
  CHECK_THAT(config_error_of([&] { ConfigReader(c.tree, "model.layers"); }),
             Contains("expected a mapping"));
}
