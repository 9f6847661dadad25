// Enforcement over time (docs/segw.md): `henbtrust segw-watch` asks the
// gateway for the tunnels it holds now (a list command: one "ID DEVICE"
// line per tunnel), asks the PVE again about each device on a period, and
// cuts the tunnels of a device that is refused now: a revoked release, a
// failed appraisal, a revoked or decommissioned device. The gateway's own
// list is the truth: a tunnel whose id changed (an IKE rekey) or that
// outlived its hook's bookkeeping is still found.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/result.h"
#include "henbtrust/segw/access_check.h"

namespace henbtrust {

struct Tunnel {
  std::string id;  // the gateway's (strongSwan: the IKE_SA's unique id)
  // Whose certificate authenticated it; "" when the gateway's identity for
  // it names no device (such a tunnel is cut).
  std::string device_id;
};

// The longest tunnel id a list may give.
inline constexpr size_t kMaxTunnelIdBytes = 64;

// Whether `id` can be a tunnel id: 1-64 of [A-Za-z0-9._-].
bool IsValidTunnelId(std::string_view id);

// The tunnels of a list command's output: one "ID DEVICE" per line (blank
// lines skipped). A line whose DEVICE is not a device id ("-", say) is a
// tunnel of no device. `problems` gets a line for each line without a
// tunnel id, which is left out.
std::vector<Tunnel> ParseTunnelList(std::string_view text, std::vector<std::string>* problems);

// Runs the gateway's list command: its output, or why there is none.
using ListTunnels = std::function<Result<std::string>()>;
// Cuts a tunnel at the gateway (the cut command).
using CutTunnel = std::function<Status(const Tunnel&)>;

struct WatchOptions {
  int64_t max_age = 0;  // as AccessQuestion::max_age
  // Rechecks keep tunnels up when the PVE does not answer: cutting every
  // tunnel while the PVE is down would take the fleet off the air. With
  // kRefuse, a tunnel without a decision is cut too.
  UnreachablePolicy unreachable = UnreachablePolicy::kAdmit;
};

struct WatchRound {
  int tunnels = 0;  // listed
  int devices = 0;  // asked about (once each per round)
  int kept = 0;     // tunnels
  int cut = 0;      // tunnels
  // No list, a line of it without a tunnel id, no decision (the PVE refused
  // the question), or a failed cut.
  int failed = 0;
  // One line per tunnel cut or failed, per tunnel kept by the policy, and
  // per line of the list that is not a tunnel.
  std::vector<std::string> lines;
};

// One pass: lists the tunnels, asks the PVE once about each device (a
// recheck), and cuts every tunnel of each refused device and every tunnel
// of no device. Once the PVE could not be reached, the rest of the round
// follows the policy without asking, so an outage costs one timeout per
// round, not one per device.
WatchRound RecheckTunnels(const PveGet& get, const ListTunnels& list, const CutTunnel& cut,
                          const WatchOptions& options);

}  // namespace henbtrust
