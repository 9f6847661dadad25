// The device agent's side of an update (docs/design.md steps 6 to 8): it polls
// the OAM, pushes evidence when asked (steps 2-4), and carries out signed
// deployment orders: download with resume, full verification and install,
// trial boot with the local TIM comparison, and the completion report with a
// fresh quote over what it really runs. Works with any Tre behind a Device.
#pragma once

#include <functional>
#include <string>

#include "henbtrust/agent/agent_hooks.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/device/device.h"
#include "henbtrust/net/http.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/release/trust.h"

namespace henbtrust {

struct UpdateAgentConfig {
  std::string device_id;
  const TrustRoot* trust = nullptr;  // vendor trust root; required
  std::string download_dir;          // partial and complete downloads
  size_t download_chunk = 1 << 20;   // bytes per range request
  std::function<int64_t()> now = nullptr;
  // Demonstrations, the simulator and tests only (agent_hooks.h); not owned.
  UpdateAgentHooks* hooks = nullptr;
  // The recovery image's agent (docs/recovery.md): polls, reports and
  // downloads on the OAM's /v1/recovery/ endpoints.
  bool recovery = false;
};

// What one poll did.
struct PollOutcome {
  AgentAction action = AgentAction::kNone;
  int64_t job = 0;           // the job it concerned; 0 for kNone
  std::string outcome = {};  // what came of it, in words; empty for none and wait
  // "<action>" or "<action>: <outcome>", e.g. "install: fell back: TIM mismatch ...".
  std::string ToString() const;
};

class UpdateAgent {
 public:
  // `oam` and `pve` may be the same client (henbtrust server). The agent
  // does not own them, nor `device`; one thread at a time.
  // `oam_key` verifies deployment orders.
  UpdateAgent(HttpChannel& oam, HttpChannel& pve, Device& device, PublicKey oam_key,
              UpdateAgentConfig config);

  // One round: asks the OAM what to do and does it. An Error means the
  // round could not finish (network, an answer that is not the protocol's,
  // a refused report); the next round picks up where this one stopped,
  // whatever the device's journal says.
  Result<PollOutcome> PollOnce();

  // The recovery image's update of itself (docs/recovery.md): fetches
  // release_id/version and hands it to Device::UpdateRecoveryImage, which
  // verifies it against the vendor trust root.
  Result<ReleaseManifest> UpdateRecoveryImage(const std::string& release_id,
                                              const std::string& version);

  UpdateAgentConfig& config() { return config_; }

 private:
  // An install order (kInstall) or a recover order (kRecover: the recovery
  // image writes both slots); then steps 7 and 8 alike.
  Result<std::string> Install(int64_t job, const std::string& token, AgentAction action);
  Result<std::string> Commit(int64_t job, const std::string& token);
  Result<std::string> Rollback(int64_t job, const std::string& token);
  // Downloads the bundle into download_dir, resuming a partial file.
  Result<std::string> Download(const std::string& release_id, const std::string& version);
  // The highest job id this device has finished, from DIR/finished-job of
  // the device's directory (0 if none yet). Jobs grow per OAM store and a
  // device has one open job at a time, so an order for a job at or below it
  // is a replay and is refused. kDeviceState if the file is unreadable.
  Result<int64_t> FinishedJob() const;
  // Raises DIR/finished-job to `job` (written atomically; never lowered).
  Status MarkFinished(int64_t job);
  // Verifies `token` as the OAM's `action` order for `job` (kPolicyOrder
  // otherwise), then records every job below it as finished. The caller has
  // checked that `job` itself is not finished.
  Result<DeploymentOrder> VerifyOrder(int64_t job, const std::string& token, AgentAction action);
  // Sends the report (with a fresh quote over `nonce` when not empty) and
  // returns its kind as sent (a hook may have changed it).
  Result<ReportKind> SendReport(int64_t job, ReportKind kind, const std::string& detail,
                                ByteView nonce);

  HttpChannel& oam_;
  HttpChannel& pve_;
  Device& device_;
  PublicKey oam_key_;
  UpdateAgentConfig config_;
};

}  // namespace henbtrust
