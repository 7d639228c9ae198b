// data::first_invalid_utf8 against CPython's UTF-8 decoder (the offset of its first
// UnicodeDecodeError) on fresh random byte strings: valid text of 1-4 byte characters with bytes
// mutated, cut or inserted (overlong forms, surrogates, > U+10FFFF, stray continuation bytes);
// and read_text_file refusing a Latin-1 file by name and offset.
#include "catch.h"
#include "data/data_error.h"
#include "data/text_file.h"
#include "eval_test_util.h"

#include <fmt/format.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

using seer::test::Contains;

namespace {

std::string random_utf8_with_damage(std::mt19937_64& rng) {
  static const std::vector<std::string> pieces = {
      "a", "Z", " ", "\xC3\xA9", "\xCE\xBB", "\xE2\x82\xAC", "\xE4\xB8\xAD", "\xF0\x9F\x98\x80",
      "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF", "\xEE\x80\x80"};
  static const std::vector<std::string> damage = {
      "\xC0\xAF", "\xC1\xBF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF0\x80\x80\xAF", "\xF4\x90\x80\x80",
      "\xF5\x80\x80\x80", "\xFF", "\x80", "\xBF", "\xC3", "\xE2\x82", "\xF0\x9F\x98"};
  std::string out;
  const int n = std::uniform_int_distribution<int>(0, 40)(rng);
  for (int i = 0; i < n; ++i) out += pieces[rng() % pieces.size()];
  switch (rng() % 4) {
    case 0: break;   // valid
    case 1: out.insert(rng() % (out.size() + 1), damage[rng() % damage.size()]); break;
    case 2: if (!out.empty()) out[rng() % out.size()] = static_cast<char>(rng() & 0xFF); break;
    case 3: if (!out.empty()) out.resize(rng() % out.size()); break;   // may cut a character
  }
  return out;
}

}  // namespace

TEST_CASE("first_invalid_utf8 agrees with CPython's decoder", "[eval][data]") {
  if (!seer::test::have_test_python()) SEER_SKIP(std::string("python not found: ") + SEER_TEST_PYTHON);
  std::mt19937_64 rng(std::random_device{}());
  const auto dir = seer::test::fresh_tmp_dir("utf8_check");
  std::vector<std::string> cases;
  for (int i = 0; i < 400; ++i) cases.push_back(random_utf8_with_damage(rng));
  cases.push_back(std::string("ok\0ok", 5));   // NUL is valid UTF-8
  for (size_t i = 0; i < cases.size(); ++i) {
    seer::test::write_file(dir / fmt::format("case_{:04d}.bin", i), cases[i]);
  }
  int rc = 0;
  const std::string script = fmt::format(
      "import sys, pathlib\n"
      "for i in range({}):\n"
      "    b = pathlib.Path(r'{}/case_%04d.bin' % i).read_bytes()\n"
      "    try:\n        b.decode('utf-8'); print(-1)\n"
      "    except UnicodeDecodeError as e:\n        print(e.start)\n",
      cases.size(), dir.string());
  seer::test::write_file(dir / "decode.py", script);
  const std::string out = seer::test::run_capture(
      fmt::format("'{}' '{}'", SEER_TEST_PYTHON, (dir / "decode.py").string()), &rc);
  REQUIRE(rc == 0);
  std::istringstream lines(out);
  int invalid = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    long long want = 0;
    REQUIRE(lines >> want);
    const size_t have = seer::data::first_invalid_utf8(cases[i]);
    CAPTURE(i, want);
    CHECK((have == std::string::npos ? -1LL : static_cast<long long>(have)) == want);
    invalid += want >= 0;
  }
  CHECK(invalid > 100);   // the damage reached the decoder often enough to mean something
}

TEST_CASE("read_text_file refuses a file that is not UTF-8, naming it and the byte",
          "[eval][data]") {
  const auto dir = seer::test::fresh_tmp_dir("utf8_file");
  seer::test::write_file(dir / "latin1.txt", "caf\xE9 au lait");
  CHECK_THROWS_WITH(seer::data::read_text_file(dir / "latin1.txt"),
                    Contains("latin1.txt: not UTF-8 text (byte 3 is 0xe9)"));
  seer::test::write_file(dir / "utf8.txt", "caf\xC3\xA9");
  CHECK(seer::data::read_text_file(dir / "utf8.txt") == "caf\xC3\xA9");
}
