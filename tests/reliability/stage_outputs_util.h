// Comparing what a stage left in its folder after kills and resumes with what an uninterrupted
// run left, and checking that what a kill left behind can be trusted.
//   for (const auto& d : stage_differences(reference / "distill", crashed / "distill")) FAIL(d);
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace seer::test {

// One line per difference ("cells/dense_ctx256/result.json: .ppl: 12.5 vs 12.75"); empty when
// the folders hold the same files with the same contents:
//   *.h5     the capture's attributes and complete sequences, every dataset value bit for bit
//   *.json   parsed, equal after dropping the keys that time or count the run itself (seconds,
//            tokens_per_s, date, written / written_by_rank / skipped_complete, hash: an
//            input's identity that includes file times)
//   *.jsonl  the same, line by line
//   *.png    ignored (plots)
//   optimizer.pt  the optimiser state it holds (its bytes carry the saving process's addresses)
//   others   byte for byte (gate weights, checkpoints, tables, markers)
std::vector<std::string> stage_differences(const std::filesystem::path& reference,
                                           const std::filesystem::path& resumed);

// What a kill may leave must never be read as whole: returns a line per file that a reader
// would trust but that does not read back (a result.json, state.json, gates or `.done` that
// does not parse, a capture sequence marked complete whose data does not read, a samples.jsonl
// line that is not JSON before its last line).
std::vector<std::string> untrustworthy_files(const std::filesystem::path& stage_dir);

}  // namespace seer::test
