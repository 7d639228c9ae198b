// io::json_int: integers from outside JSON, in range or a FormatError naming the value (floats
// like 1e108 used to reach nlohmann's unchecked float -> int64 conversion, found by tests/fuzz).
#include "catch.h"
#include "core/io/json_int.h"

#include <nlohmann/json.hpp>

using nlohmann::json;
using seer::io::json_int;
using seer::test::Contains;

TEST_CASE("json_int takes integers in range and refuses the rest by value", "[models][json]") {
  CHECK(json_int(json::parse("7"), 0, 10, "x") == 7);
  CHECK(json_int(json::parse("-3"), -5, 10, "x") == -3);
  CHECK(json_int(json::parse("9223372036854775807"), 0, INT64_MAX, "x") == INT64_MAX);
  CHECK_THROWS_WITH(json_int(json::parse("1.5e108"), 0, 10, "vocab['a']"),
                    Contains("vocab['a'] = 1.5e+108: expected an integer in [0, 10]"));
  CHECK_THROWS_WITH(json_int(json::parse("2.0"), 0, 10, "x"), Contains("x = 2.0"));
  CHECK_THROWS_WITH(json_int(json::parse("11"), 0, 10, "x"), Contains("x = 11"));
  CHECK_THROWS_WITH(json_int(json::parse("-1"), 0, 10, "id"), Contains("id = -1"));
  CHECK_THROWS_WITH(json_int(json::parse("18446744073709551615"), 0, INT64_MAX, "x"),
                    Contains("18446744073709551615"));
  CHECK_THROWS_WITH(json_int(json::parse("\"7\""), 0, 10, "x"), Contains("x = \"7\""));
}
