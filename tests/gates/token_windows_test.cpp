// Online distillation's window schedule: each epoch visits every window of its grid exactly once,
// epochs after the first sit on shifted grids (new windows), the schedule is a pure function of
// (seed, counter), and a cap reproduces offline's order over the first windows.
#include "catch.h"

#include "core/gate/distill_trainer.h"
#include "data/token_windows.h"
#include "gates_test_util.h"

#include <map>
#include <set>

using namespace seer;

TEST_CASE("token windows: full epochs, shifted grids, pure in (seed, counter)", "[gates][distill]") {
  const int64_t length = GENERATE(1, 7, 64);
  const int64_t tokens = GENERATE(64, 1000, 1003);
  CAPTURE(length, tokens);
  data::TokenWindowSchedule s(tokens, length, /*seed=*/3);
  int64_t c = 0;
  std::set<int64_t> first_epoch_starts;
  for (int64_t e = 0; e < 4; ++e) {
    CAPTURE(e);
    const int64_t n = s.windows(e), o = s.offset(e);
    REQUIRE(n >= 1);
    CHECK(o >= 0);
    CHECK(o < std::max<int64_t>(length, 1));
    CHECK(n == (tokens - o) / length);
    if (e == 0) CHECK(o == 0);
    std::set<int64_t> starts;
    for (int64_t i = 0; i < n; ++i, ++c) {
      const int64_t st = s.start(c);
      CHECK((st - o) % length == 0);
      CHECK(st >= 0);
      CHECK(st + length <= tokens);
      starts.insert(st);
    }
    CHECK(static_cast<int64_t>(starts.size()) == n);   // every window once
    if (e == 0) first_epoch_starts = starts;
    else if (o != 0) for (int64_t st : starts) CHECK(first_epoch_starts.count(st) == 0);
  }
  // Pure: another schedule with the same inputs agrees at any counter, in any order.
  data::TokenWindowSchedule again(tokens, length, 3);
  for (int64_t k : {c - 1, int64_t{0}, c / 2, c + 17}) CHECK(again.start(k) == s.start(k));
}

TEST_CASE("token windows: later epochs see new windows; a cap matches offline order",
          "[gates][distill]") {
  data::TokenWindowSchedule s(100000, 512, 0);
  std::set<int64_t> offsets;
  for (int64_t e = 1; e < 6; ++e) offsets.insert(s.offset(e));
  CHECK(offsets.size() >= 4);           // seeded offsets, not one shift repeated
  CHECK(offsets.count(0) == 0);
  CHECK(data::TokenWindowSchedule(100000, 512, 1).offset(1) != s.offset(1));

  data::TokenWindowSchedule capped(100000, 512, 5, /*cap=*/4);
  CHECK(capped.windows(0) == 4);
  CHECK(capped.windows(3) == 4);
  for (int64_t c = 0; c < 12; ++c)
    CHECK(capped.start(c) == core::distill_sample_index(5, c, 4) * 512);

  CHECK(gates_test::contains(gates_test::error_message([] {
          data::TokenWindowSchedule tiny(10, 64, 0);
        }), "fewer than one window"));
}
