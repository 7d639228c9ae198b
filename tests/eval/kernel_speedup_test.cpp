// kernel_speedup_json(): the kernel figure's points recomputed by hand from benchmark rows.
#include "catch.h"
#include "experiments/kernel_speedup.h"

using namespace seer::experiments;

namespace {

KernelBenchRow row(const std::string& impl, int64_t seq, double kept, double ms) {
  KernelBenchRow r;
  r.impl = impl;
  r.seq = seq;
  r.keep = kept;
  r.kept = kept;
  r.ms = ms;
  return r;
}

}  // namespace

TEST_CASE("kernel speed-up points: sparse rows against our dense kernel at the same length", "[eval]") {
  const std::vector<KernelBenchRow> rows = {
      row("sdpa_flash", 8192, 1.0, 1.7),       row("seer_dense", 8192, 1.0, 2.0),
      row("seer_sparse", 8192, 0.5, 1.25),     row("seer_sparse_gate", 8192, 0.45, 1.0),
      row("seer_maxpool", 8192, 1.0, 2.4),     row("seer_sparse", 32768, 0.1, 4.0),  // no dense at 32k
      row("seer_dense", 131072, 1.0, 460.0),   row("seer_sparse", 131072, 0.101, 57.5)};
  const auto j = kernel_speedup_json(rows, "NVIDIA H100 80GB HBM3");
  CHECK(j["title"].get<std::string>().find("H100") != std::string::npos);
  const auto& pts = j["rows"];
  REQUIRE(pts.size() == 3);
  CHECK(pts[0]["series"] == "seer_sparse @8192");
  CHECK(pts[0]["sparsity"].get<double>() == Approx(0.5));
  CHECK(pts[0]["speedup"].get<double>() == Approx(1.6));
  CHECK(pts[1]["series"] == "seer_sparse_gate @8192");
  CHECK(pts[1]["sparsity"].get<double>() == Approx(0.55));
  CHECK(pts[1]["speedup"].get<double>() == Approx(2.0));
  CHECK(pts[2]["series"] == "seer_sparse @131072");
  CHECK(pts[2]["sparsity"].get<double>() == Approx(0.899));
  CHECK(pts[2]["speedup"].get<double>() == Approx(8.0));
  CHECK(pts[2]["dense_ms"].get<double>() == Approx(460.0));
}
