// Python `str` semantics for the metric ports: the official LongBench and RULER scorers are
// Python, and their scores depend on how Python splits, lowercases and matches Unicode text.
// Strings are UTF-8 outside and code points (std::u32string) inside, as Python sees them.
#pragma once

#include <string>
#include <vector>

namespace seer::data::py {

// Invalid UTF-8 bytes become U+FFFD (as Python's errors="replace").
std::u32string decode(const std::string& utf8);
std::string encode(const std::u32string& text);

bool isspace(char32_t c);        // str.isspace
bool isdecimal(char32_t c);      // re's \d on str: Unicode decimal digits (Nd)
bool is_word_char(char32_t c);   // re's \w on str: alphanumerics and '_'
char32_t lower(char32_t c);      // str.lower for one code point (1:1 mappings only)

std::u32string lower(const std::u32string& s);
std::vector<std::u32string> split(const std::u32string& s);                  // s.split()
std::vector<std::u32string> split(const std::u32string& s, char32_t sep);   // s.split(sep)
std::u32string join(const std::vector<std::u32string>& parts, const std::u32string& sep);
std::u32string lstrip(const std::u32string& s, char32_t c);                  // s.lstrip(c)
std::u32string strip(const std::u32string& s);                                // s.strip()
bool contains(const std::u32string& haystack, const std::u32string& needle);  // needle in s

// re.findall(r"\d+", s)
std::vector<std::u32string> find_digit_runs(const std::u32string& s);

// round(x, digits) for a float: half-to-even on the exact binary value, as CPython does.
double round(double x, int digits);

}  // namespace seer::data::py
