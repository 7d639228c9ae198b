#include "core/dist/backends.h"

#ifdef SEER_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

#include <fmt/format.h>

#include <cstdlib>

namespace seer::core::dist {

#ifdef SEER_WITH_GLOO

bool gloo_built() { return true; }

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                    const DistEnv& env) {
  auto opts = c10d::ProcessGroupGloo::Options::create();
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname) {
    std::string name = ifname;
    name = name.substr(0, name.find(','));
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
  } else if (env.master_addr.rfind("127.", 0) == 0 || env.master_addr == "localhost") {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, opts);
}

#else

bool gloo_built() { return false; }

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>&,
                                                    const DistEnv&) {
  throw DistError("this build has no gloo backend: its headers were not found at configure time "
                  "(Debian package libgloo-dev; scripts/setup.sh installs it), so several "
                  "processes cannot run on the CPU");
}

#endif

}  // namespace seer::core::dist
