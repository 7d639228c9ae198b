// Fuzz target: the benchmark sample files a user points Seer at: a LongBench JSONL file
// (data::load_longbench_jsonl) and RULER's QA sources, SQuAD and HotpotQA JSON
// (data::load_ruler_squad / load_ruler_hotpotqa). Bad files must throw with path and line.
#include "data/longbench/longbench_dataset.h"
#include "data/ruler/ruler_qa.h"
#include "fuzz_util.h"

#include <exception>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto dir = seer::fuzz::scratch_dir("sample_files");
  const auto path = dir / "samples.jsonl";
  seer::fuzz::write_bytes(path, std::string(reinterpret_cast<const char*>(data), size));
  try {
    for (const auto& s : seer::data::load_longbench_jsonl(path, 0))
      (void)s.length;
  } catch (const std::exception&) {
  }
  try {
    (void)seer::data::load_ruler_squad(path);
  } catch (const std::exception&) {
  }
  try {
    (void)seer::data::load_ruler_hotpotqa(path);
  } catch (const std::exception&) {
  }
  return 0;
}
