// Errors about dataset files and records: they name the file (and line or key) and say what was
// expected, e.g.
//   /data/lb/qasper.jsonl:12: key 'answers' = 3: expected a list of strings
#pragma once

#include <stdexcept>
#include <string>

namespace seer::data {

class DataError : public std::runtime_error {
 public:
  explicit DataError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace seer::data
