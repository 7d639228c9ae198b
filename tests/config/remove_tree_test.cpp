// io::remove_tree: removes nested folders, files and symlinks (without following them), counts
// what it removed, and leaves everything outside the tree alone.
#include "catch.h"
#include "core/io/atomic_file.h"
#include "core/io/remove_tree.h"

#include <filesystem>

namespace fs = std::filesystem;
using namespace seer;

TEST_CASE("remove_tree removes a nested tree and nothing outside it", "[io]") {
  const fs::path root = fs::path(SEER_TEST_TMP) / "remove_tree";
  fs::remove(root / "outside.txt");
  io::remove_tree(root);
  const fs::path tree = root / "checkpoints" / "step_000025";
  fs::create_directories(tree / "gates" / "deeper");
  io::write_file_atomic(tree / "state.json", "{}\n");
  io::write_file_atomic(tree / "gates" / "gates.json", "{}\n");
  io::write_file_atomic(tree / "gates" / "deeper" / "x.bin", "abc");
  io::write_file_atomic(root / "outside.txt", "keep me");
  fs::create_symlink(root / "outside.txt", tree / "link_out");   // must not be followed

  // step_000025, gates, deeper, state.json, gates.json, x.bin, link_out
  CHECK(io::remove_tree(tree) == 7);
  CHECK_FALSE(fs::exists(tree));
  CHECK(fs::exists(root / "checkpoints"));
  CHECK(io::read_file(root / "outside.txt") == "keep me");
  CHECK(io::remove_tree(tree) == 0);   // absent: nothing to do

  CHECK(io::remove_tree(root / "outside.txt") == 1);   // a plain file
  CHECK_FALSE(fs::exists(root / "outside.txt"));
}
