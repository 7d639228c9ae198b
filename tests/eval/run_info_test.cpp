// run_command(): the command a results file names is the experiment with the overrides exactly
// as typed, each one shell word (pasting it back must give the same overrides).
#include "analysis/run_info.h"
#include "catch.h"

#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

namespace fs = std::filesystem;

namespace {

fs::path fresh_run_dir(const std::string& experiment, const std::string& name) {
  const fs::path d = fs::path(SEER_TEST_TMP) / "run_info" / experiment / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST_CASE("run_command names the experiment and the typed overrides", "[eval]") {
  const fs::path run = fresh_run_dir("paper_kernels", "e5");
  std::ofstream(run / "overrides.yaml") << "- '++run.name=e5'\n"
                                           "- 'bench.seqs=[8192,32768]'\n"
                                           "- 'bench.note=two words'\n"
                                           "- \"bench.q=it's\"\n";
  CHECK(seer::analysis::run_command(run) ==
        "seer run paper_kernels ++run.name=e5 bench.seqs=[8192,32768] 'bench.note=two words' "
        "'bench.q=it'\\''s'");
}

TEST_CASE("run_command without overrides is the bare experiment", "[eval]") {
  const fs::path run = fresh_run_dir("bench_kernels", "default");
  CHECK(seer::analysis::run_command(run) == "seer run bench_kernels");
}

// Sets (or, with nullptr, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST_CASE("git_commit names a commit or says unknown", "[eval]") {
  const ScopedEnv no_override("SEER_GIT", nullptr);
  const std::string c = seer::analysis::git_commit();
  REQUIRE_FALSE(c.empty());
  if (c != "unknown") {
    const std::string hash = c.substr(0, c.find('-'));
    CHECK(hash.size() == 12);
    CHECK(hash.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK((c.size() == 12 || c.substr(12) == "-dirty"));
  }
}

TEST_CASE("git_commit takes SEER_GIT for a copied tree", "[eval]") {
  const ScopedEnv named("SEER_GIT", "80add92");
  CHECK(seer::analysis::git_commit() == "80add92");
}
