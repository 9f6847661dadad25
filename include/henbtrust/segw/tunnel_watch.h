// Enforcement over time (docs/segw.md): the gateway's hook records each
// tunnel it admits as a file in a state directory (named by the gateway's
// id for the tunnel, holding the device id); `henbtrust segw-watch` asks the
// PVE about each again on a period and cuts the tunnel of a device that is
// refused now: a revoked release, a failed appraisal, a revoked device.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "henbtrust/core/env.h"
#include "henbtrust/segw/access_check.h"

namespace henbtrust {

struct Tunnel {
  std::string id;         // the gateway's (strongSwan: the IKE_SA's unique id)
  std::string device_id;  // whom the gateway admitted
};

// The longest tunnel id a state file may be named by.
inline constexpr size_t kMaxTunnelIdBytes = 64;

// Whether `id` can name a state file: 1-64 of [A-Za-z0-9._-], not starting
// with a dot.
bool IsValidTunnelId(std::string_view id);

// Records `tunnel` in `dir` (crash-safe), as the gateway's hook does on
// admission; Forget removes it (OK if it is not there).
Status RecordTunnel(Env& env, const std::string& dir, const Tunnel& tunnel);
Status ForgetTunnel(Env& env, const std::string& dir, const std::string& tunnel_id);

// The tunnels recorded in `dir`; `problems` gets a line for each entry
// that is not a tunnel (bad name, unreadable, not a device id), which is
// left alone.
Result<std::vector<Tunnel>> ListTunnels(Env& env, const std::string& dir,
                                        std::vector<std::string>* problems);

// Cuts a tunnel at the gateway (a command the operator configures).
using CutTunnel = std::function<Status(const Tunnel&)>;

struct WatchOptions {
  std::string state_dir;
  int64_t max_age = 0;  // as AccessQuestion::max_age
  // Rechecks keep tunnels up when the PVE does not answer: cutting every
  // tunnel while the PVE is down would take the fleet off the air.
  UnreachablePolicy unreachable = UnreachablePolicy::kAdmit;
};

struct WatchRound {
  int checked = 0;
  int kept = 0;
  int cut = 0;
  int failed = 0;  // no decision (the PVE refused the question) or the cut failed
  // One line per tunnel cut or failed, and per problem in the directory.
  std::vector<std::string> lines;
};

// One pass over the recorded tunnels: asks the PVE about each (a recheck),
// cuts each refused one and forgets it. A tunnel whose cut fails stays
// recorded and is tried again on the next pass.
WatchRound RecheckTunnels(Env& env, const PveGet& get, const CutTunnel& cut,
                          const WatchOptions& options);

}  // namespace henbtrust
