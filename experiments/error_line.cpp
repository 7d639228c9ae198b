#include "experiments/error_line.h"

#include <c10/util/Exception.h>

namespace seer::experiments {

std::string error_line(const std::exception& e) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e))
    return torch_error->what_without_backtrace();
  std::string msg = e.what();
  if (const auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
  return msg;
}

}  // namespace seer::experiments
