// Shared helpers for the eval tests: scratch folders, fixture files, and running the venv python
// for reference values.
#pragma once

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

namespace seer::test {

// A fresh, empty folder under SEER_TEST_TMP for one test case.
inline std::filesystem::path fresh_tmp_dir(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(SEER_TEST_TMP) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error("cannot write test fixture " + path.string());
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline bool have_test_python() { return std::filesystem::exists(SEER_TEST_PYTHON); }

// Runs `command` through the shell and returns its stdout; `rc` gets the exit status.
inline std::string run_capture(const std::string& command, int* rc) {
  std::array<char, 4096> buffer{};
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  while (size_t n = fread(buffer.data(), 1, buffer.size(), pipe)) out.append(buffer.data(), n);
  const int status = pclose(pipe);
  *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

inline std::filesystem::path shared_dir() { return std::filesystem::path(SEER_SHARED_DIR); }

}  // namespace seer::test

#include "data/text_tokenizer.h"

#include <unordered_map>

namespace seer::test {

// Word-piece stand-in for a BPE tokenizer: each token is a run of non-spaces with the spaces
// before it, so decode(encode(t)) == t and cutting anywhere yields valid text.
class WordTokenizer final : public seer::data::TextTokenizer {
 public:
  std::vector<int64_t> encode(const std::string& text) const override {
    std::vector<int64_t> ids;
    size_t i = 0;
    while (i < text.size()) {
      size_t j = i;
      while (j < text.size() && text[j] == ' ') ++j;
      while (j < text.size() && text[j] != ' ') ++j;
      ids.push_back(intern(text.substr(i, j - i)));
      i = j;
    }
    return ids;
  }
  std::string decode(const std::vector<int64_t>& ids) const override {
    std::string out;
    for (int64_t id : ids) out += pieces_.at(static_cast<size_t>(id));
    return out;
  }

 private:
  int64_t intern(const std::string& piece) const {
    const auto [it, inserted] = ids_.emplace(piece, static_cast<int64_t>(pieces_.size()));
    if (inserted) pieces_.push_back(piece);
    return it->second;
  }
  mutable std::vector<std::string> pieces_;
  mutable std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace seer::test
