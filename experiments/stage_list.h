// Registers every built-in stage (one line each in stage_list.cpp).
#pragma once

namespace seer::experiments {
void register_builtin_stages();
}
