// HDF5 capture file: round trip (float16 and float32 G and pooled Q/K, deflate or not, optional P
// and masks), append/resume
// (an incomplete sequence is removed on reopen, complete ones are kept), mismatched info is
// refused naming the attribute, and h5py reads the same values and attributes.
#include "catch.h"

#include "data/capture_file.h"
#include "data/capture_dataset.h"
#include "gates_test_util.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <hdf5.h>

#include <sstream>

using namespace seer;

namespace {

data::CaptureFileInfo tiny_info(const std::string& g_dtype) {
  data::CaptureFileInfo info;
  info.model = "tiny-llama";
  info.block_size = 16;
  info.num_layers = 3;
  info.num_q_heads = 4;
  info.num_kv_heads = 2;
  info.head_dim = 8;
  info.layers = {0, 2};
  info.heads = {};
  info.g_dtype = g_dtype;
  info.qk_dtype = g_dtype;
  return info;
}

data::CaptureSequence random_sequence(const std::string& id, int64_t length, at::Generator& gen,
                                      bool extras) {
  data::CaptureSequence s;
  s.id = id;
  s.length = length;
  const int64_t nb = (length + 15) / 16;
  for (int64_t layer : {0, 2}) {
    data::CaptureLayerData d;
    d.layer = layer;
    auto g = at::rand({4, nb, nb}, gen, at::kFloat).tril();
    d.g = g / g.sum(-1, true);
    d.q_pooled = at::randn({nb, 4, 24}, gen, at::kFloat);
    d.k_pooled = at::randn({nb, 2, 24}, gen, at::kFloat);
    if (extras) {
      d.p = at::rand({4, nb, nb}, gen, at::kFloat);
      d.mask = d.p > 0.5;
    }
    s.layers.push_back(d);
  }
  return s;
}

}  // namespace

TEST_CASE("capture file round trip, resume and h5py", "[gates][capture]") {
  const std::string g_dtype = GENERATE(std::string("float16"), std::string("float32"));
  const std::string compression = GENERATE(std::string("none"), std::string("deflate"));
  CAPTURE(g_dtype, compression);
  const auto dir = gates_test::fresh_dir("capture_" + g_dtype + compression);
  const auto path = dir / "capture.h5";
  auto gen = at::detail::createCPUGenerator(11);
  auto s0 = random_sequence("book_a/0", 70, gen, true);
  auto s1 = random_sequence("book_b/0", 33, gen, false);
  {
    data::CaptureWriter w(path, tiny_info(g_dtype), compression);
    CHECK_FALSE(w.has_sequence("book_a/0"));
    w.write(s0);
    CHECK(w.has_sequence("book_a/0"));
  }
  // Simulate a kill in the middle of the next sequence: its group exists without the marker.
  {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    hid_t g = H5Gcreate2(f, "sequences/book_b_0", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    H5Fclose(f);
  }
  {
    data::CaptureWriter w(path, tiny_info(g_dtype), compression);  // resume: the torn group is removed
    CHECK(w.sequences() == std::vector<std::string>{"book_a_0"});
    CHECK_FALSE(w.has_sequence("book_b/0"));
    w.write(s1);
    CHECK(gates_test::contains(gates_test::error_message([&] { w.write(s1); }), "already complete"));
  }
  // Another model's capture may not be appended to this file.
  auto other = tiny_info(g_dtype);
  other.block_size = 32;
  CHECK(gates_test::contains(gates_test::error_message([&] { data::CaptureWriter refused(path, other); }),
                             "block_size"));

  data::CaptureReader r(path);
  CHECK(r.info().model == "tiny-llama");
  CHECK(r.info().layers == std::vector<int64_t>{0, 2});
  REQUIRE(r.sequences().size() == 2);
  CHECK(r.length("book_a/0") == 70);
  CHECK(r.layers("book_b/0") == std::vector<int64_t>{0, 2});
  const double g_tol = g_dtype == "float16" ? 1e-3 : 0.0;
  for (const auto* s : {&s0, &s1})
    for (const auto& want : s->layers) {
      auto got = r.read_layer(s->id, want.layer);
      CHECK((got.g - want.g).abs().max().item<double>() <= g_tol);
      // Stored as qk_dtype, read back as float32: the rounding to float16 and nothing else.
      const auto qk = data::capture_dtype(g_dtype);
      CHECK(at::equal(got.q_pooled, want.q_pooled.to(qk).to(at::kFloat)));
      CHECK(at::equal(got.k_pooled, want.k_pooled.to(qk).to(at::kFloat)));
      CHECK(got.p.defined() == want.p.defined());
      if (want.p.defined()) {
        CHECK(at::equal(got.p, want.p));
        CHECK(at::equal(got.mask, want.mask));
      }
    }
  CHECK(gates_test::contains(gates_test::error_message([&] { r.read_layer("book_a/0", 1); }),
                             "layer_001"));

  data::CaptureDataset dataset({path});
  REQUIRE(dataset.size() == 2);
  CHECK(dataset.entry(0).layers == std::vector<int64_t>{0, 2});
  CHECK(dataset.entry(0).length == 70);

  // h5py sees the same attributes and values.
  const std::string out = gates_test::run_python("tests/gates/read_capture.py", path.string());
  if (gates_test::contains(out, "No module named")) {
    SEER_SKIP("h5py unavailable: " + out);
  }
  INFO(out);
  std::istringstream lines(out);
  std::string key;
  int checked = 0;
  while (lines >> key) {
    if (key == "root") {
      std::string model, format;
      int64_t block;
      lines >> format >> model >> block;
      CHECK(format == "seer-capture");
      CHECK(model == "tiny-llama");
      CHECK(block == 16);
      ++checked;
    } else if (key == "layer") {
      std::string seq, dtype;
      int64_t layer, length, complete;
      double g_sum, q_sum;
      lines >> seq >> layer >> length >> complete >> dtype >> g_sum >> q_sum;
      const auto& s = seq == "book_a/0" ? s0 : s1;
      const auto& want = s.layers[layer == 0 ? 0 : 1];
      CHECK(length == s.length);
      CHECK(complete == 1);
      CHECK(dtype == g_dtype);
      CHECK(g_sum == Approx(want.g.sum().item<double>()).margin(0.05));
      const auto q_stored = want.q_pooled.to(data::capture_dtype(g_dtype)).to(at::kDouble);
      CHECK(q_sum == Approx(q_stored.sum().item<double>()).margin(1e-3));
      ++checked;
    }
  }
  CHECK(checked == 5);
}
