// A capture split over several HDF5 files in one folder (data/capture_file.h): sequence w lives in
// capture_<w / sequences_per_file>.h5 (capture_00000.h5, capture_00001.h5, ...) as `seq_<w>`, so
// where a sequence goes never depends on what was written before. Every file is appendable and
// resumable on its own: opening removes incomplete sequences, complete ones are skipped. A file
// that a kill or a full disk left damaged (capture_file_damage) is rewritten with the complete
// sequences that still read (salvage_capture_file), or removed when it does not open at all; the
// sequences it lost count as missing, so they are captured again.
//
// Writes run on one background thread (HDF5 is entered by one thread at a time: the constructor
// scans the existing files before the thread starts, and only the thread touches HDF5 afterwards),
// so the caller computes the next sequence while the previous one is written. At most `queue`
// sequences wait; write() blocks when the queue is full.
//
// A writer may own only some files of the folder (`only_files`): it scans, repairs and writes
// those and leaves the others alone, so that several processes fill one folder, each its own
// files, after one of them has scanned the whole folder (experiments/stages/capture.cpp).
//
//   CaptureFolderWriter out(stage_dir / "capture", info, 32, "none");
//   for (int64_t w = 0; w < n; ++w) if (!out.has_sequence(w)) out.write(w, sequence_w);
//   out.finish();   // waits for the writes; rethrows a write error
#pragma once

#include "data/capture_file.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace seer::data {

// "seq_00042" and "capture_00001.h5": the names of sequence w and of file k.
std::string capture_sequence_id(int64_t w);
std::string capture_file_name(int64_t k);
// The capture files in `dir` (capture_NNNNN.h5), by name: the order a dataset reads them in.
std::vector<std::filesystem::path> capture_folder_files(const std::filesystem::path& dir);

class CaptureFolderWriter {
 public:
  // `only_files`: the indices of the files this writer owns (empty: every file of the folder).
  CaptureFolderWriter(std::filesystem::path dir, CaptureFileInfo info, int64_t sequences_per_file,
                      std::string compression, int64_t queue = 2,
                      std::set<int64_t> only_files = {});
  ~CaptureFolderWriter();   // finishes the queued writes (errors then are lost: call finish())
  CaptureFolderWriter(const CaptureFolderWriter&) = delete;
  CaptureFolderWriter& operator=(const CaptureFolderWriter&) = delete;

  // Complete before this writer started (or written by it since).
  bool has_sequence(int64_t w) const;
  // What the constructor did about damaged files, one line each for the run log.
  const std::vector<std::string>& repairs() const { return repairs_; }
  // Queues sequence w (its id is set to capture_sequence_id(w)); tensors should be on the host.
  // std::logic_error when w's file is not one this writer owns.
  void write(int64_t w, CaptureSequence seq);
  // Waits until every queued sequence is written; rethrows the first write error.
  void finish();

  int64_t complete() const;                 // complete sequences in the owned files
  double write_seconds() const;             // time the thread spent writing
  double wait_seconds() const;              // time write() blocked on a full queue
  std::vector<std::filesystem::path> files() const;   // existing capture files, by name

 private:
  void loop();
  CaptureWriter& writer_for(int64_t w);
  bool owns_file(int64_t k) const { return only_files_.empty() || only_files_.count(k) > 0; }

  std::filesystem::path dir_;
  CaptureFileInfo info_;
  int64_t per_file_;
  std::string compression_;
  int64_t queue_limit_;
  std::set<int64_t> only_files_;   // empty: all
  std::map<int64_t, std::unique_ptr<CaptureWriter>> writers_;   // by file index
  std::set<int64_t> complete_;
  std::vector<std::string> repairs_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::pair<int64_t, CaptureSequence>> queue_;
  bool busy_ = false;
  bool closing_ = false;
  std::exception_ptr error_;
  double write_seconds_ = 0;
  double wait_seconds_ = 0;
  std::thread thread_;
};

}  // namespace seer::data
