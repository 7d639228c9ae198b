// Kills one rank of a running `seer launch --nproc 2` and checks what every test of a killed rank
// expects of the launcher: exit status 1 and an error naming the rank, its pid and the signal.
#pragma once

#include "catch.h"
#include "dist_test_util.h"

#include <fmt/format.h>

#include <signal.h>

namespace seer::dist_test {

inline Finished kill_rank_and_check(SeerProcess& launch, int rank = 1) {
  const pid_t pid = rank_pid(launch.pid(), rank);
  REQUIRE(pid > 0);
  REQUIRE(kill(pid, SIGKILL) == 0);
  Finished r = launch.wait();
  INFO(r.output);
  CHECK(r.exit_code() == 1);
  CHECK_THAT(r.output, seer::test::Contains(fmt::format(
                           "seer: error: launch: rank {} of 2 (pid {}) was killed by signal 9 "
                           "(SIGKILL)", rank, pid)));
  return r;
}

}  // namespace seer::dist_test
