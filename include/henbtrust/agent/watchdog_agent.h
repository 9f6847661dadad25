// The device's side of the watchdog (docs/recovery.md). In normal mode the
// OS keeps the boot stage fed: when less than half a ticket period is left
// it has the PVE appraise it and asks the OAM for a deferral ticket. In
// recovery the recovery image contacts the OAM's recovery endpoint: an
// intact normal slot goes back to service, a recover job is carried out
// (by an UpdateAgent on the recovery endpoints), and an OAM out of reach
// leads to minimal mode if the local check holds. In minimal mode the OS
// asks for a ticket at every round until one comes.
//
// The watchdog itself (Device::Watchdog) is the hardware's: whoever runs
// the device model calls it every round, whatever the agent does.
#pragma once

#include <string>

#include "henbtrust/agent/update_agent.h"
#include "henbtrust/device/device.h"
#include "henbtrust/net/http.h"

namespace henbtrust {

class WatchdogAgent {
 public:
  // `recovery` carries out recover jobs on the recovery endpoints
  // (UpdateAgentConfig::recovery set). None is owned; one thread at a time.
  WatchdogAgent(HttpClient& oam, HttpClient& pve, Device& device, UpdateAgent& recovery,
                std::string device_id);

  // What this round did, in words ("" when nothing was due). An Error
  // means the OAM or the PVE could not be asked (or refused, in normal
  // mode); in recovery an OAM out of reach is an outcome, not an Error.
  Result<std::string> Round();

  // Normal or minimal mode: a ticket now if fewer than half a period is
  // left (or in minimal mode, or `force`).
  Result<std::string> RenewTicket(bool force = false);
  // Recovery mode: one contact, and what it leads to.
  Result<std::string> RecoveryRound();

 private:
  HttpClient& oam_;
  HttpClient& pve_;
  Device& device_;
  UpdateAgent& recovery_;
  std::string device_id_;
};

}  // namespace henbtrust
