// Python str semantics for the metric ports (see py_string.h). Case mapping and the alphanumeric
// class come from glibc's C.UTF-8 locale, which carries the full Unicode tables; where that locale
// is missing, non-ASCII letters keep their case (scores on English text are unaffected).
#include "data/metrics/py_string.h"

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cwctype>
#include <locale.h>

namespace seer::data::py {

namespace {

locale_t unicode_locale() {
  static const locale_t loc = [] {
    locale_t l = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (l == static_cast<locale_t>(nullptr)) {
      l = newlocale(LC_CTYPE_MASK, "C.utf8", static_cast<locale_t>(nullptr));
    }
    return l;
  }();
  return loc;
}

// First code point of each block of ten Unicode decimal digits (general category Nd).
constexpr char32_t kDecimalZeros[] = {
    0x30,    0x660,   0x6F0,   0x7C0,   0x966,   0x9E6,   0xA66,   0xAE6,   0xB66,   0xBE6,
    0xC66,   0xCE6,   0xD66,   0xDE6,   0xE50,   0xED0,   0xF20,   0x1040,  0x1090,  0x17E0,
    0x1810,  0x1946,  0x19D0,  0x1A80,  0x1A90,  0x1B50,  0x1BB0,  0x1C40,  0x1C50,  0xA620,
    0xA8D0,  0xA900,  0xA9D0,  0xA9F0,  0xAA50,  0xABF0,  0xFF10,  0x104A0, 0x10D30, 0x11066,
    0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0,
    0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2,
    0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0};

}  // namespace

std::u32string decode(const std::string& s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len = 0;
    char32_t cp = 0;
    if (b0 < 0x80) {
      len = 1, cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07;
    }
    bool ok = len > 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if (ok && ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) {
      ok = false;   // overlong or not a scalar value
    }
    if (!ok) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += len;
  }
  return out;
}

std::string encode(const std::u32string& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool isspace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

bool isdecimal(char32_t c) {
  for (char32_t zero : kDecimalZeros) {
    if (c >= zero && c < zero + 10) return true;
  }
  return false;
}

bool is_word_char(char32_t c) {
  if (c < 0x80) return c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
  const locale_t loc = unicode_locale();
  if (loc == static_cast<locale_t>(nullptr)) return !isspace(c);
  return iswalnum_l(static_cast<wint_t>(c), loc) != 0 || isdecimal(c);
}

char32_t lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  const locale_t loc = unicode_locale();
  if (loc == static_cast<locale_t>(nullptr)) return c;
  return static_cast<char32_t>(towlower_l(static_cast<wint_t>(c), loc));
}

std::u32string lower(const std::u32string& s) {
  std::u32string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

std::vector<std::u32string> split(const std::u32string& s) {
  std::vector<std::u32string> parts;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && isspace(s[i])) ++i;
    if (i == s.size()) break;
    size_t j = i;
    while (j < s.size() && !isspace(s[j])) ++j;
    parts.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return parts;
}

std::vector<std::u32string> split(const std::u32string& s, char32_t sep) {
  std::vector<std::u32string> parts;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == sep) {
      parts.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.emplace_back(s.substr(start));
  return parts;
}

std::u32string join(const std::vector<std::u32string>& parts, const std::u32string& sep) {
  std::u32string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += sep;
    out += parts[i];
  }
  return out;
}

std::u32string lstrip(const std::u32string& s, char32_t c) {
  size_t i = 0;
  while (i < s.size() && s[i] == c) ++i;
  return s.substr(i);
}

std::u32string strip(const std::u32string& s) {
  size_t b = 0, e = s.size();
  while (b < e && isspace(s[b])) ++b;
  while (e > b && isspace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

bool contains(const std::u32string& haystack, const std::u32string& needle) {
  return haystack.find(needle) != std::u32string::npos;
}

std::vector<std::u32string> find_digit_runs(const std::u32string& s) {
  std::vector<std::u32string> runs;
  size_t i = 0;
  while (i < s.size()) {
    if (!isdecimal(s[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && isdecimal(s[j])) ++j;
    runs.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return runs;
}

double round(double x, int digits) {
  // glibc's printf rounds the exact binary value half-to-even, which is what CPython's round does.
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.*f", digits, x);
  return std::strtod(buffer, nullptr);
}

}  // namespace seer::data::py
