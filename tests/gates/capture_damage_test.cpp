// Capture files that a full disk or a cut left damaged (data/capture_repair.h, capture_folder.h): a
// refused write stops with one error naming the file and the reason and never marks its sequence
// complete; the folder writer rewrites a damaged file with the complete sequences that still
// read whole (the rest are captured again) and removes one that does not open, so nothing
// half-written is ever read as whole.
#include "catch.h"

#include "data/capture_file.h"
#include "data/capture_folder.h"
#include "data/capture_repair.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

using namespace seer;
namespace fs = std::filesystem;

namespace {

data::CaptureFileInfo info() {
  data::CaptureFileInfo i;
  i.model = "tiny";
  i.block_size = 16;
  i.num_layers = 2;
  i.num_q_heads = 4;
  i.num_kv_heads = 2;
  i.head_dim = 8;
  i.g_dtype = "float32";
  i.qk_dtype = "float32";
  return i;
}

std::vector<data::CaptureSequence> sequences(int64_t n) {
  auto gen = at::detail::createCPUGenerator(5);
  std::vector<data::CaptureSequence> out;
  for (int64_t w = 0; w < n; ++w) {
    data::CaptureSequence s;
    s.id = data::capture_sequence_id(w);
    s.length = 128;
    for (int64_t layer : {0, 1}) {
      data::CaptureLayerData d;
      d.layer = layer;
      d.g = at::rand({4, 8, 8}, gen);
      d.q_pooled = at::randn({8, 4, 24}, gen);
      d.k_pooled = at::randn({8, 2, 24}, gen);
      s.layers.push_back(d);
    }
    out.push_back(s);
  }
  return out;
}

void write_folder(const fs::path& dir, const std::vector<data::CaptureSequence>& seqs) {
  data::CaptureFolderWriter out(dir, info(), 4, "none");
  for (size_t w = 0; w < seqs.size(); ++w)
    if (!out.has_sequence(static_cast<int64_t>(w))) out.write(static_cast<int64_t>(w), seqs[w]);
  out.finish();
}

// Appends `seq` to `file` in a child process whose files may not grow past `limit` bytes (SIGXFSZ
// ignored: the write fails with EFBIG, as on a full disk). Returns the child's error message.
std::string append_under_limit(const fs::path& file, const data::CaptureSequence& seq,
                               int64_t limit) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(out[0]);
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit r{static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
    ::setrlimit(RLIMIT_FSIZE, &r);
    std::string message = "no error";
    try {
      data::CaptureWriter writer(file, info());
      writer.write(seq);
    } catch (const std::exception& e) {
      message = e.what();
    }
    (void)!::write(out[1], message.data(), message.size());
    ::_exit(0);
  }
  ::close(out[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = ::read(out[0], buf, sizeof buf)) > 0;) message.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  return message;
}

void check_read_back(const fs::path& dir, const std::vector<data::CaptureSequence>& seqs) {
  data::CaptureReader r(dir / data::capture_file_name(0));
  REQUIRE(r.sequences().size() == seqs.size());
  for (const auto& s : seqs) {
    for (const auto& l : s.layers) {
      const auto d = r.read_layer(s.id, l.layer);
      CHECK(at::equal(d.g, l.g));
      CHECK(at::equal(d.q_pooled, l.q_pooled));
      CHECK(at::equal(d.k_pooled, l.k_pooled));
    }
  }
}

}  // namespace

TEST_CASE("a refused capture write names the file; the resume keeps what was complete",
          "[gates][capture]") {
  const auto dir = gates_test::fresh_dir("capture_full_disk");
  const auto seqs = sequences(4);
  write_folder(dir, {seqs[0], seqs[1]});
  const fs::path file = dir / data::capture_file_name(0);
  const int64_t size = static_cast<int64_t>(fs::file_size(file));

  const std::string message = append_under_limit(file, seqs[2], size + 4096);
  CAPTURE(message);
  CHECK(gates_test::contains(message, file.string()));
  CHECK(gates_test::contains(message, "seq_00002"));
  CHECK(gates_test::contains(message, "File too large"));

  data::CaptureFolderWriter resumed(dir, info(), 4, "none");
  CAPTURE(resumed.repairs());
  CHECK(resumed.has_sequence(0));
  CHECK(resumed.has_sequence(1));
  CHECK_FALSE(resumed.has_sequence(2));
  resumed.write(2, seqs[2]);
  resumed.write(3, seqs[3]);
  resumed.finish();
  check_read_back(dir, seqs);
}

TEST_CASE("a capture file cut inside its data keeps only the sequences that are whole",
          "[gates][capture]") {
  const auto dir = gates_test::fresh_dir("capture_cut");
  const auto seqs = sequences(3);
  write_folder(dir, seqs);
  const fs::path file = dir / data::capture_file_name(0);
  fs::resize_file(file, fs::file_size(file) * 2 / 3);
  CHECK_FALSE(data::capture_file_damage(file).empty());

  data::CaptureFolderWriter resumed(dir, info(), 4, "none");
  REQUIRE(resumed.repairs().size() == 1);
  CAPTURE(resumed.repairs()[0]);
  CHECK(gates_test::contains(resumed.repairs()[0], "rewritten"));
  CHECK_FALSE(resumed.has_sequence(2));   // its data was past the cut
  for (int64_t w = 0; w < 3; ++w)
    if (!resumed.has_sequence(w)) resumed.write(w, seqs[static_cast<size_t>(w)]);
  resumed.finish();
  check_read_back(dir, seqs);   // what was kept is exactly what was written
}

TEST_CASE("a capture file that does not open at all is removed", "[gates][capture]") {
  const auto dir = gates_test::fresh_dir("capture_noise");
  const auto seqs = sequences(2);
  write_folder(dir, seqs);
  const fs::path file = dir / data::capture_file_name(0);
  fs::resize_file(file, 100);   // not even the superblock is whole

  data::CaptureFolderWriter resumed(dir, info(), 4, "none");
  REQUIRE(resumed.repairs().size() == 1);
  CHECK(gates_test::contains(resumed.repairs()[0], "removed"));
  CHECK_FALSE(resumed.has_sequence(0));
  CHECK_FALSE(fs::exists(file));
}
