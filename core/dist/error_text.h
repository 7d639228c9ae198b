// The reason an exception from libtorch's c10d gives, on one line: c10 errors carry a C++
// backtrace and gloo's a source location after the first line, which a user does not need.
#pragma once

#include <c10/util/Exception.h>

#include <exception>
#include <string>

namespace seer::core::dist {

inline std::string first_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
  if (const auto nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  return text;
}

}  // namespace seer::core::dist
