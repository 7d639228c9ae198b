// One include for Catch2 v2 (Debian bookworm, CI) and v3 (the GPU machine).
#pragma once
// c10's logging header defines a glog-style CHECK that aborts instead of counting as a test
// assertion. Include it first and drop that macro, so Catch's CHECK is the one every test sees
// even when ATen headers come after this one (include guards keep c10 from defining it again).
#include <c10/util/Logging.h>
#undef CHECK

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#define SEER_CATCH_V3 1
using Catch::Approx;   // v2 puts Approx in the global namespace; tests write it unqualified
#else
#include <catch2/catch.hpp>
#endif

// Skip the rest of a test case with a visible message. v3 reports it as skipped; v2 has no
// skip, so it prints a warning and returns (the case then passes with that warning shown).
#ifdef SEER_CATCH_V3
#define SEER_SKIP(msg) SKIP(msg)
#else
#define SEER_SKIP(msg) \
  do {                 \
    WARN(msg);         \
    return;            \
  } while (0)
#endif

#include <exception>
#include <string>

namespace seer::test {
// The message of the exception `f` throws ("<no error>" when it returns), for checks that look at
// several parts of one message.
template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

// Substring matcher for CHECK_THROWS_WITH / CHECK_THAT: Contains in v2, ContainsSubstring in v3
// (v3's Contains matches range elements and does not compile on strings).
#ifdef SEER_CATCH_V3
inline auto Contains(const std::string& s) { return Catch::Matchers::ContainsSubstring(s); }
#else
inline auto Contains(const std::string& s) { return Catch::Matchers::Contains(s); }
#endif
}  // namespace seer::test
