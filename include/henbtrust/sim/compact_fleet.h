// H(e)NBs at the scale of a national fleet, in one process (docs/simulation.md,
// "A million devices"): each device is the 220 bytes of its soft TrE's
// non-volatile state and its certificate's serial, nothing more. It has no
// files, no socket, no TLS context and no agent object. When it attests, its
// TrE is loaded from that state, measures the release every device of the
// fleet shares (one plan and one event log, made once), and quotes; the
// evidence goes to the PVE's handler through an InProcessChannel, as the
// device's own certificate would present it.
//
// It enrolls through the PVE's real enrollment (EK certificate from a
// simulated manufacturer, credential activation) and is appraised by the
// PVE's real appraisal over a real store. It does not update or recover:
// the scenario runner (sim/scenario_run.h) plays those on whole devices.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "henbtrust/core/result.h"

namespace henbtrust {

struct CompactFleetOptions {
  std::string work_dir;  // the server directory and its SQLite store; replaced
  int devices = 1000;
  int threads = 2;  // devices enrolled and appraised at once
  // A line now and then (every tenth of the fleet).
  std::function<void(const std::string& line)> progress = nullptr;
};

// One pass over the fleet.
struct FleetPass {
  int devices = 0;
  int64_t succeeded = 0;  // enrolled, or appraised as affirming
  int64_t failed = 0;
  double wall_seconds = 0;
  double pve_cpu_us = 0;  // CPU time of the PVE's handler over the pass
  std::string first_failure = {};

  double PerSecond() const {
    return wall_seconds > 0 ? static_cast<double>(succeeded) / wall_seconds : 0;
  }
};

class CompactFleet {
 public:
  // The services and the release; no device yet.
  static Result<std::unique_ptr<CompactFleet>> Create(const CompactFleetOptions& options);
  ~CompactFleet();
  CompactFleet(const CompactFleet&) = delete;
  CompactFleet& operator=(const CompactFleet&) = delete;

  // Makes and enrolls every device.
  Result<FleetPass> Enroll();
  // Every device attests once (nonce, quote, evidence) and is appraised: a
  // fleet-wide revalidation. Succeeded counts affirming results.
  Result<FleetPass> Revalidate();

  // Bytes of memory per device held by the fleet's own table (the TrE
  // states and serials), as allocated.
  double TableBytesPerDevice() const;
  // The store's files, per device.
  double StoreBytesPerDevice() const;

  struct Impl;

 private:
  explicit CompactFleet(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace henbtrust
