#include "core/tokenizer/byte_level.h"

namespace seer::tokenizer {

std::string utf8_from_codepoint(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

int utf8_char_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0) return 4;
  return 1;
}

ByteLevel::ByteLevel() {
  // Printable Latin-1 bytes keep their code point; the other 68 bytes take 256, 257, ...
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const uint32_t cp = keep ? static_cast<uint32_t>(b) : next++;
    byte_to_utf8_[b] = utf8_from_codepoint(cp);
    codepoint_to_byte_[cp] = static_cast<uint8_t>(b);
  }
}

std::string ByteLevel::encode(const std::string& text) const {
  std::string out;
  out.reserve(text.size() * 2);
  for (unsigned char c : text) out += byte_to_utf8_[c];
  return out;
}

std::string ByteLevel::decode(const std::string& symbols) const {
  std::string out;
  size_t i = 0;
  while (i < symbols.size()) {
    const auto lead = static_cast<unsigned char>(symbols[i]);
    const int n = utf8_char_length(lead);
    if (i + n > symbols.size()) {
      out += symbols.substr(i);
      break;
    }
    uint32_t cp = n == 1 ? lead : lead & (0xFF >> (n + 1));
    for (int j = 1; j < n; ++j) cp = (cp << 6) | (static_cast<unsigned char>(symbols[i + j]) & 0x3F);
    auto it = codepoint_to_byte_.find(cp);
    if (it != codepoint_to_byte_.end()) {
      out += static_cast<char>(it->second);
    } else {
      out += symbols.substr(i, n);
    }
    i += n;
  }
  return out;
}

}  // namespace seer::tokenizer
