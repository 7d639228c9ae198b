// GPT-2's byte-level alphabet: every byte maps to one printable Unicode character so BPE runs on
// text without control bytes or spaces (space -> 'Ġ' U+0120, newline -> 'Ċ' U+010A).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>

namespace seer::tokenizer {

class ByteLevel {
 public:
  ByteLevel();
  // Bytes of `text` -> UTF-8 string of their byte-level characters.
  std::string encode(const std::string& text) const;
  // Inverse; characters outside the alphabet are kept as their UTF-8 bytes.
  std::string decode(const std::string& symbols) const;

 private:
  std::array<std::string, 256> byte_to_utf8_;
  std::unordered_map<uint32_t, uint8_t> codepoint_to_byte_;
};

// UTF-8 helpers shared by the tokenizer.
std::string utf8_from_codepoint(uint32_t cp);
// Length in bytes of the UTF-8 character starting with byte `lead` (1 for invalid lead bytes).
int utf8_char_length(unsigned char lead);

}  // namespace seer::tokenizer
