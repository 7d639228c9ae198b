// io::remove_stale_temp_files: the temporaries a killed writer left (`<name>.tmp.<pid>` of a
// process no longer running) go, anywhere under the folder; those of a running writer and files
// that only look alike stay.
#include "catch.h"
#include "core/io/atomic_file.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using namespace seer;

namespace {

// The pid of a process that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return pid;
}

}  // namespace

TEST_CASE("remove_stale_temp_files removes what killed writers left, and only that", "[io]") {
  const fs::path root = fs::path(SEER_TEST_TMP) / "stale_temp_files";
  fs::remove_all(root);
  const std::string dead = std::to_string(dead_pid()), alive = std::to_string(::getpid());
  io::write_file_atomic(root / "cells" / "a" / "result.json", "{}\n");
  io::write_file_atomic(root / "cells" / "a" / ("result.json.tmp." + dead), "{\"ppl\": 1");
  io::write_file_atomic(root / ("config.yaml.tmp." + dead), "partial");
  io::write_file_atomic(root / ("table.md.tmp." + alive), "being written");
  io::write_file_atomic(root / "notes.tmp.txt", "not a temporary");
  io::write_file_atomic(root / "plain.tmp.", "not a temporary");

  CHECK(io::remove_stale_temp_files(root) == 2);
  CHECK_FALSE(fs::exists(root / "cells" / "a" / ("result.json.tmp." + dead)));
  CHECK_FALSE(fs::exists(root / ("config.yaml.tmp." + dead)));
  CHECK(fs::exists(root / "cells" / "a" / "result.json"));
  CHECK(fs::exists(root / ("table.md.tmp." + alive)));
  CHECK(fs::exists(root / "notes.tmp.txt"));
  CHECK(fs::exists(root / "plain.tmp."));
  CHECK(io::remove_stale_temp_files(root / "absent") == 0);
}
