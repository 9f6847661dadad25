// The OAM server (H(e)MS; docs/design.md section 3): release catalogue, update
// jobs as a persisted state machine over the Store, deployment orders
// signed with the OAM key, and the device-facing endpoints the agent polls.
// The API is docs/api/oam.yaml; the states are in docs/oam.md.
//
// Like the PVE, OamService keeps no state of its own: every transition is one
// Store transaction that compares and sets the job's state and appends its
// audit entry, so a restarted or second instance carries on where another
// stopped, and a repeated device report changes nothing.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "henbtrust/core/env.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/net/campaign_protocol.h"
#include "henbtrust/net/http.h"
#include "henbtrust/release/trust.h"
#include "henbtrust/store/store.h"

// The job states are in store/job_state.h, their transitions in
// oam/job_machine.h.

namespace henbtrust {

// How the OAM reaches the PVE: an HTTPS client with the operator role, or
// the PVE's handler itself when both run in one process. Returns the PVE's
// answer, whatever its status; an Error only when there was none.
using PveLink = std::function<Result<HttpResponse>(
    const std::string& method, const std::string& target, const std::string& body)>;

struct OamConfig {
  PrivateKey order_key;  // signs deployment orders (ES256)
  // Imported bundles, <release_id>@<version>.bundle ('@' is in neither part,
  // so no two releases share a name).
  std::string catalogue_dir;
  int64_t order_ttl = 900;  // seconds a device has to act on an instruction
  int max_attempts = 4;     // missed deadlines (or rejected bundles) before a job fails
  int64_t pve_retry = 5;    // seconds before asking an unreachable PVE again
  // Several OAMs on one store (docs/oam.md, "Several OAMs"): each names
  // itself (empty: host name, process id and a random suffix) and leases
  // the jobs and campaigns it drives for `lease` seconds at a time; a lease
  // that runs out (its instance stopped or died) lets another take over.
  std::string instance_id = {};
  int64_t lease = 30;
  // The watchdog (docs/recovery.md): the ticket period of a hardware model
  // without one of its own, and how recent the affirming appraisal a
  // deferral is issued on must be (at most the period).
  int64_t ticket_period = 86400;
  int64_t ticket_freshness = 600;
  // Time and the catalogue's files (core/env.h); not owned. `now`, when set,
  // overrides the Env's wall clock (Unix seconds).
  Env* env = Env::Default();
  std::function<int64_t()> now = nullptr;
  // The most bundle bytes one answer carries: a request for more (or without
  // Range, for a larger bundle) gets the first this many as 206 Partial
  // Content, and the client asks for the rest.
  size_t max_answer_bytes = size_t{8} << 20;
  // Bundle requests served at once per client certificate (role and CN);
  // beyond it 429 net.busy.
  int max_downloads_per_client = 2;
  // Tests only: called while a bundle request holds its download slot.
  std::function<void(const std::string& client)> while_downloading = nullptr;
};

class OamService {
 public:
  OamService(Store& store, PveLink pve, OamConfig config);
  ~OamService();
  OamService(const OamService&) = delete;
  OamService& operator=(const OamService&) = delete;

  // Thread-safe. Errors are JSON {"error": {"code", "message"}} answers; a
  // known path with another method is 405 with Allow.
  HttpResponse Handle(const HttpRequest& request);
  // True for the targets this service answers (/v1/agent/..., /v1/jobs...,
  // /v1/audit, /v1/inventory, /v1/releases/*/*/bundle), from its route
  // table, so that one server can route between the OAM and the PVE.
  bool Serves(std::string_view target) const;

  // Verifies `bundle_path` against `trust` (signatures, expiry, every
  // payload digest), copies it into the catalogue and records its manifest.
  // Returns "<release_id> <version>".
  Result<std::string> ImportRelease(const std::string& bundle_path, const TrustRoot& trust,
                                    const std::string& actor);

  // Step 1 for one device. kPolicyUnknownDevice, kPolicyUnknownRelease,
  // kPolicyJobConflict (an open job exists) or kPolicy (revoked, another
  // hardware model, a downgrade: a release counter below that of the
  // device's recorded release; an equal counter is allowed, as the device's
  // anti-rollback floor allows it; or, for an update, the release it runs).
  // An update is ordered after an affirming appraisal; a reinstall or a
  // recover (remediation: the device need not verify) is ordered at once.
  Result<UpdateJob> OpenJob(const std::string& device_id, const std::string& release_id,
                            const std::string& version, const std::string& actor,
                            JobKind kind = JobKind::kUpdate);

  // A campaign (docs/oam.md, "Campaigns"): the selected devices, in
  // batches of `batch_size`, get a job of `kind` to the release; a batch's
  // jobs open once every job of the batches before has ended, at most `rate`
  // a second; a campaign whose ended jobs fail (rolled back, failed,
  // refused) above `max_failure_percent` pauses itself. Its first jobs open
  // before this returns. kPolicyUnknownRelease, kPolicy (revoked), or
  // kInvalidArgument (nothing selected, a bad number).
  Result<CampaignView> CreateCampaign(const CreateCampaignRequest& request,
                                      const std::string& actor);
  // kNotFound for no such campaign.
  Result<CampaignView> GetCampaign(int64_t id);
  enum class CampaignAction { kPause, kResume, kAbort };
  // Pause (running), resume (paused) or abort (running or paused), audited;
  // kPolicyState from any other state.
  Result<CampaignView> ChangeCampaign(int64_t id, CampaignAction action, const std::string& actor);

  // Revokes `version` (audited; the SeGW's access decision quarantines
  // every device on it at once) and opens a reinstall campaign to
  // `safe_version` of the same release for every device running it, at
  // most `rate` jobs a second; each job re-appraises its device at step 9.
  // kPolicyUnknownRelease; kPolicy for a safe version that is revoked, the
  // revoked one, or of a lower release counter (devices that committed the
  // revoked one would refuse it).
  Result<RevocationOutcome> RevokeRelease(const ReleaseRevocation& request,
                                          const std::string& actor);
  // Withdraws a revocation, audited. Campaigns it opened go on.
  Status UnrevokeRelease(const std::string& release_id, const std::string& version,
                         const std::string& reason, const std::string& actor);

  // Puts `device_id` into group `group` (or, with `member` false, takes it
  // out), audited; campaigns select groups with "group=NAME".
  // kInvalidArgument for a malformed name, kPolicyUnknownDevice for a
  // device that is not enrolled.
  Status SetDeviceGroup(const std::string& group, const std::string& device_id, bool member,
                        const std::string& actor);
  // The group's devices, by id (net/paging.h): kInvalidArgument for a
  // malformed name.
  Result<Page<std::string>> GroupMembers(const std::string& group, const PageQuery& page);

  // A hardware model's watchdog policy (docs/recovery.md): its ticket
  // period (0: OamConfig::ticket_period) and the release its devices are
  // recovered to (empty: each device's own recorded release), audited.
  // kPolicyUnknownRelease, or kPolicy for a recovery release that is
  // revoked or not for the model; kInvalidArgument for a bad period.
  Status SetModelPolicy(const ModelPolicy& policy, const std::string& actor);
  // kNotFound when the model has none of its own.
  Result<ModelPolicy> GetModelPolicy(const std::string& hardware_model);

  // Acts once on every job whose next action is due (steps 2-5 for opened
  // jobs, step 9 for reported ones, deadlines for the others), then once on
  // every running campaign, each claimed under this instance's lease first:
  // one that another instance holds is left to it. Returns how many jobs
  // moved. Safe to run in several instances at once.
  Result<int> Drive();
  // OamConfig::instance_id, or the name made for this process.
  const std::string& InstanceId() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace henbtrust
