// Captures in several files as one stream: the folder writer splits sequences over files, resumes
// (a torn sequence is rewritten, complete ones skipped) and writes both compressions; the dataset
// indexes the complete sequences of a folder / file / glob in capture order, caps them, refuses
// files of another capture, and reads batches (only the asked poolings, float16 kept) equal to
// what was written; the prefetcher hands out the same batches as direct reads, never holds more
// than its bound, restarts on a jump and passes read errors on.
#include "catch.h"

#include "core/gate/distill_trainer.h"
#include "data/capture_dataset.h"
#include "data/capture_folder.h"
#include "data/distill_prefetcher.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <hdf5.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace seer;
namespace fs = std::filesystem;
using K = kernels::PoolKind;

namespace {

constexpr int64_t kBlock = 16, kHq = 4, kHkv = 2, kD = 8;

data::CaptureFileInfo info(const std::string& qk_dtype = "float16") {
  data::CaptureFileInfo i;
  i.model = "tiny";
  i.block_size = kBlock;
  i.num_layers = 3;
  i.num_q_heads = kHq;
  i.num_kv_heads = kHkv;
  i.head_dim = kD;
  i.layers = {0, 2};
  i.g_dtype = "float16";
  i.qk_dtype = qk_dtype;
  return i;
}

// Sequence w: its values derive from w, so any reader can recompute what was written.
data::CaptureSequence sequence(int64_t w, int64_t length) {
  auto gen = at::detail::createCPUGenerator(100 + w);
  data::CaptureSequence s;
  s.length = length;
  const int64_t nb = (length + kBlock - 1) / kBlock;
  for (int64_t layer : {0, 2}) {
    data::CaptureLayerData d;
    d.layer = layer;
    auto g = at::rand({kHq, nb, nb}, gen, at::kFloat).tril();
    d.g = g / g.sum(-1, true);
    d.q_pooled = at::randn({nb, kHq, 3 * kD}, gen, at::kFloat);
    d.k_pooled = at::randn({nb, kHkv, 3 * kD}, gen, at::kFloat);
    s.layers.push_back(d);
  }
  return s;
}

int64_t length_of(int64_t w) { return w == 3 ? 40 : 64; }   // sequence 3 is shorter

void write_folder(const fs::path& dir, int64_t n, const std::string& compression) {
  data::CaptureFolderWriter out(dir, info(), 2, compression);
  for (int64_t w = 0; w < n; ++w)
    if (!out.has_sequence(w)) out.write(w, sequence(w, length_of(w)));
  out.finish();
}

}  // namespace

TEST_CASE("capture folder: files of N sequences, resume, both compressions", "[gates][capture]") {
  const std::string compression = GENERATE(std::string("none"), std::string("deflate"));
  CAPTURE(compression);
  const auto dir = gates_test::fresh_dir("capture_folder_" + compression);
  write_folder(dir, 3, compression);
  CHECK(fs::exists(dir / "capture_00000.h5"));
  CHECK(fs::exists(dir / "capture_00001.h5"));
  CHECK_FALSE(fs::exists(dir / "capture_00002.h5"));
  // A kill in the middle of sequence 3 (file 1): its group exists without the marker.
  {
    hid_t f = H5Fopen((dir / "capture_00001.h5").c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    H5Gclose(H5Gcreate2(f, "sequences/seq_00003", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    H5Fclose(f);
  }
  {
    data::CaptureFolderWriter out(dir, info(), 2, compression);
    CHECK(out.complete() == 3);
    CHECK(out.has_sequence(2));
    CHECK_FALSE(out.has_sequence(3));
    for (int64_t w = 0; w < 5; ++w)
      if (!out.has_sequence(w)) out.write(w, sequence(w, length_of(w)));
    out.finish();
    CHECK(out.complete() == 5);
    CHECK(out.files().size() == 3);
  }
  // Another capture's settings may not be appended.
  auto other = info();
  other.qk_dtype = "float32";
  CHECK(gates_test::contains(gates_test::error_message([&] {
          data::CaptureFolderWriter refused(dir, other, 2, compression);
        }), "qk_dtype"));

  data::CaptureDataset all(data::capture_files(dir.string()));
  REQUIRE(all.size() == 5);
  for (int64_t i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(all.entry(i).id == data::capture_sequence_id(i));
    CHECK(all.entry(i).file == i / 2);
    CHECK(all.entry(i).length == length_of(i));
    CHECK(all.entry(i).layers == std::vector<int64_t>{0, 2});
  }
  CHECK(all.tokens() == 4 * 64 + 40);
  // The written values come back (float16 rounding): the poolings the gate reads, in stored
  // order (avg, max, min), adjacent kinds in one read, others in several.
  data::CaptureReadLayout layout;
  layout.q_kinds = {K::kAvg};
  layout.k_kinds = {K::kMax, K::kMin, K::kAvg};
  auto batch = all.read_batch({4, 3, 0, 4}, layout);
  REQUIRE(batch.groups.size() == 2);    // length 64: {4, 0, 4}; length 40: {3}
  const auto& g64 = batch.groups[0];
  CHECK(g64.ids == std::vector<std::string>{"seq_00004", "seq_00000", "seq_00004"});
  CHECK(batch.groups[1].ids == std::vector<std::string>{"seq_00003"});
  CHECK((g64.q_kinds == std::vector<K>{K::kAvg}));
  CHECK((g64.k_kinds == core::capture_pool_kinds()));
  CHECK(g64.q_pooled[0].scalar_type() == at::kHalf);
  CHECK(g64.g[1].scalar_type() == at::kHalf);
  CHECK(g64.q_pooled[1].sizes() == at::IntArrayRef({3, 4, kHq, kD}));
  CHECK(g64.k_pooled[0].sizes() == at::IntArrayRef({3, 4, kHkv, 3 * kD}));
  layout.q_kinds = {K::kMin, K::kAvg};   // two kinds apart: two reads
  layout.k_kinds = {K::kMin, K::kMax};   // adjacent: one read
  auto subset = all.read_batch({4, 0}, layout);
  REQUIRE(subset.groups.size() == 1);
  CHECK((subset.groups[0].q_kinds == std::vector<K>{K::kAvg, K::kMin}));
  CHECK((subset.groups[0].k_kinds == std::vector<K>{K::kMax, K::kMin}));
  const std::vector<int64_t> order = {4, 0, 4};
  for (size_t b = 0; b < order.size(); ++b)
    for (size_t l = 0; l < 2; ++l) {
      CAPTURE(b, l);
      const auto want = sequence(order[b], 64).layers[l];
      const int64_t bi = static_cast<int64_t>(b);
      CHECK(at::equal(g64.q_pooled[l][bi], want.q_pooled.narrow(-1, 0, kD).to(at::kHalf)));
      CHECK(at::equal(g64.k_pooled[l][bi], want.k_pooled.to(at::kHalf)));
      CHECK(at::equal(g64.g[l][bi], want.g.to(at::kHalf)));
      if (b < 2) {
        const auto& q = want.q_pooled;
        CHECK(at::equal(subset.groups[0].q_pooled[l][bi],
                        at::cat({q.narrow(-1, 0, kD), q.narrow(-1, 2 * kD, kD)}, -1).to(at::kHalf)));
        CHECK(at::equal(subset.groups[0].k_pooled[l][bi],
                        want.k_pooled.narrow(-1, kD, 2 * kD).to(at::kHalf)));
      }
    }

  // A cap keeps the first sequences in capture order; a glob and a single file work too.
  data::CaptureDataset capped(data::capture_files(dir.string()), 3);
  CHECK(capped.size() == 3);
  CHECK(capped.entry(2).id == "seq_00002");
  CHECK(data::CaptureDataset(data::capture_files((dir / "capture_0000[1-2].h5").string())).size() == 3);
  CHECK(data::CaptureDataset(data::capture_files((dir / "capture_00002.h5").string())).size() == 1);
  CHECK(gates_test::contains(gates_test::error_message([&] {
          data::capture_files((dir / "nothing_*.h5").string());
        }), "no capture files"));
}

TEST_CASE("capture dataset refuses files of another capture", "[gates][capture]") {
  const auto dir = gates_test::fresh_dir("capture_dataset_mixed");
  {
    data::CaptureWriter a(dir / "a.h5", info());
    a.write([] { auto s = sequence(0, 64); s.id = "seq_00000"; return s; }());
    auto i = info();
    i.block_size = 32;
    data::CaptureWriter b(dir / "b.h5", i);
  }
  CHECK(gates_test::contains(gates_test::error_message([&] {
          data::CaptureDataset d(data::capture_files(dir.string()));
        }), "b.h5: attribute 'block_size'"));
}

TEST_CASE("capture with query sub-blocks: s rows of Q per block, an attribute of the capture",
          "[gates][capture]") {
  const auto dir = gates_test::fresh_dir("capture_subblocks");
  auto sub_info = info("float32");
  sub_info.q_subblocks = 4;
  auto seq = sequence(0, 40);   // 3 blocks, the last partial
  for (auto& l : seq.layers) l.q_pooled = at::randn({3 * 4, kHq, 3 * kD});
  {
    data::CaptureFolderWriter out(dir, sub_info, 2, "none");
    out.write(0, seq);
    out.finish();
  }
  data::CaptureDataset d(data::capture_files(dir.string()));
  CHECK(d.info().q_subblocks == 4);
  data::CaptureReadLayout layout;
  layout.q_kinds = {K::kAvg};
  auto batch = d.read_batch({0, 0}, layout);
  REQUIRE(batch.groups.size() == 1);
  CHECK(batch.groups[0].q_pooled[1].sizes() == at::IntArrayRef({2, 12, kHq, kD}));
  CHECK(at::equal(batch.groups[0].q_pooled[1][1], seq.layers[1].q_pooled.narrow(-1, 0, kD)));
  // One file of the capture with another sub-block count is refused by name.
  { data::CaptureWriter other(dir / "capture_00009.h5", info("float32")); }
  CHECK(gates_test::contains(gates_test::error_message([&] {
          data::CaptureDataset mixed(data::capture_files(dir.string()));
        }), "attribute 'q_subblocks'"));
}

TEST_CASE("float16 capture refuses values beyond float16", "[gates][capture]") {
  const auto dir = gates_test::fresh_dir("capture_overflow");
  data::CaptureWriter w(dir / "c.h5", info());
  auto s = sequence(0, 64);
  s.id = "seq_00000";
  s.layers[1].k_pooled[2][1][5].fill_(1e6);
  CHECK(gates_test::contains(gates_test::error_message([&] { w.write(s); }),
                             "k_pooled reaches |x| = 1e+06, beyond float16"));
}

TEST_CASE("prefetcher: same batches as direct reads, bounded, restarts, passes errors",
          "[gates][capture]") {
  const auto dir = gates_test::fresh_dir("prefetch_capture");
  write_folder(dir, 5, "none");
  data::CaptureDataset direct(data::capture_files(dir.string()));
  data::CaptureDataset background(data::capture_files(dir.string()));
  data::CaptureReadLayout layout;
  auto indices = [](int64_t first, int64_t count) {
    std::vector<int64_t> out;
    for (int64_t c = first; c < first + count; ++c) out.push_back(core::distill_sample_index(4, c, 5));
    return out;
  };
  std::atomic<int64_t> reads{0};
  data::DistillPrefetcher pf(
      [&](int64_t first, int64_t count) {
        ++reads;
        return background.read_batch(indices(first, count), layout);
      },
      2);
  const int64_t batch = 3;
  for (int64_t step = 0; step < 6; ++step) {
    auto got = pf.next(step * batch, batch);
    auto want = direct.read_batch(indices(step * batch, batch), layout);
    REQUIRE(got.groups.size() == want.groups.size());
    for (size_t g = 0; g < got.groups.size(); ++g) {
      CHECK(got.groups[g].ids == want.groups[g].ids);
      for (size_t l = 0; l < got.groups[g].g.size(); ++l) {
        CHECK(at::equal(got.groups[g].g[l], want.groups[g].g[l]));
        CHECK(at::equal(got.groups[g].q_pooled[l], want.groups[g].q_pooled[l]));
      }
    }
    // The thread may run ahead by the queue (2) plus the step it is reading, never further.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(pf.steps_read() <= step + 1 + 2 + 1);
  }
  // A jump back (a resume) restarts at the asked counter.
  auto again = pf.next(3, batch);
  CHECK(again.groups[0].ids == direct.read_batch(indices(3, batch), layout).groups[0].ids);

  data::DistillPrefetcher failing(
      [](int64_t first, int64_t) -> core::DistillBatch {
        if (first >= 4) throw data::DataError("disk on fire");
        return {};
      },
      1);
  CHECK_NOTHROW(failing.next(0, 2));
  CHECK_NOTHROW(failing.next(2, 2));
  CHECK(gates_test::contains(gates_test::error_message([&] { failing.next(4, 2); }),
                             "disk on fire"));
}
