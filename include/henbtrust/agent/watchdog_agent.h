// The device's side of the watchdog (docs/recovery.md). In normal mode the
// OS keeps the boot stage fed: when less than half a ticket period is left
// it has the PVE appraise it and asks the OAM for a deferral ticket. In
// recovery the recovery image contacts the OAM's recovery endpoint: an
// intact normal slot goes back to service, a recover job is carried out
// (by an UpdateAgent on the recovery endpoints, over a connection with
// the recovery image's own TLS identity), and an OAM out of reach
// leads to minimal mode if the local check holds. In minimal mode the OS
// asks for a ticket until one comes. A failed attempt, in either mode, is
// followed by a backoff (WatchdogRetry).
//
// The watchdog itself (Device::Watchdog) is the hardware's: whoever runs
// the device model calls it every round, whatever the agent does.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "henbtrust/agent/update_agent.h"
#include "henbtrust/device/device.h"
#include "henbtrust/net/http.h"

namespace henbtrust {

// How a device keeps trying the OAM for a ticket: after the n-th failed
// attempt it waits min(retry_cap, retry_base * 2^(n-1)) times a random
// factor in [1/2, 1) (jitter, so that a fleet that lost the OAM together
// does not come back in one wave), on the TrE's clock. Every device is back
// within `retry_cap` of the OAM's return.
struct WatchdogRetry {
  int64_t retry_base = 30;  // seconds
  int64_t retry_cap = 300;  // seconds: the retry period
};

// Where the recovery image reaches the OAM's recovery endpoints. It speaks
// with its own TLS identity (Device::RecoveryTls, role henbtrust-recovery),
// which only those endpoints admit: the connection is made when the
// recovery image first needs it, and dropped when the device leaves
// recovery.
struct RecoveryEndpoint {
  std::string host;
  uint16_t port = 0;
  std::string ca_pem;  // the servers' CA
  PublicKey oam_key;   // verifies the recover job's orders
  // The recovery image's UpdateAgent (UpdateAgentConfig::recovery is set).
  UpdateAgentConfig config;
  HttpClientOptions client = {};
  // Makes the recovery image's link from its TLS identity instead of an
  // HTTPS connection to host:port: the simulator's in-process channel.
  std::function<Result<std::unique_ptr<HttpChannel>>(const TlsConfig& identity)> connect = nullptr;
};

class WatchdogAgent {
 public:
  // `oam` and `pve` speak with the device's own identity (normal and
  // minimal mode). None is owned; one thread at a time.
  WatchdogAgent(HttpChannel& oam, HttpChannel& pve, Device& device, RecoveryEndpoint recovery,
                std::string device_id, WatchdogRetry retry = {});
  ~WatchdogAgent();

  // What this round did, in words ("" when nothing was due). An Error
  // means the OAM or the PVE could not be asked (or refused, in normal
  // mode); in recovery an OAM out of reach is an outcome, not an Error.
  Result<std::string> Round();

  // Normal or minimal mode: a ticket now if fewer than half a period is
  // left (in minimal mode: at once) and the backoff after a failed attempt
  // has passed, or `force`.
  Result<std::string> RenewTicket(bool force = false);
  // Recovery mode: one contact, and what it leads to.
  Result<std::string> RecoveryRound();
  // Ticket requests that failed in a row (0 after one that succeeded): a
  // backoff runs while it is not 0.
  int failures() const { return failures_; }

 private:
  // Challenge, attestation, ticket request, and the ticket to the boot stage.
  Result<std::string> AskForTicket();
  // The recovery image's agent over its own connection, made now if there
  // is none: kDeviceState unless the recovery image runs, kNotFound
  // without a recovery certificate, kNet when the OAM cannot be reached.
  Result<UpdateAgent*> RecoveryAgent();
  void DropRecoveryLink();

  HttpChannel& oam_;
  HttpChannel& pve_;
  Device& device_;
  RecoveryEndpoint endpoint_;
  std::unique_ptr<HttpChannel> recovery_client_;
  std::unique_ptr<UpdateAgent> recovery_agent_;  // over recovery_client_
  std::string device_id_;
  WatchdogRetry retry_;
  int failures_ = 0;              // minimal mode: attempts that failed in a row
  uint64_t next_attempt_ms_ = 0;  // minimal mode: not before this, on the TrE clock
};

}  // namespace henbtrust
