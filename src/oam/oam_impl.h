// Private to oam/: the state OamService shares between its files. Each file
// holds one responsibility: service.cc the routes, catalogue.cc releases
// and bundle downloads, jobs.cc opening and moving jobs, driver.cc the
// OAM's own steps (2-5, 9, deadlines), device_api.cc the agent's endpoints,
// operator_api.cc the operator's, pve_client.cc what the OAM asks the PVE.
#pragma once

#include <atomic>
#include <limits>
#include <map>
#include <string>

#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/net/oam_protocol.h"
#include "henbtrust/net/router.h"
#include "henbtrust/net/ticket_protocol.h"
#include "henbtrust/oam/job_machine.h"
#include "henbtrust/oam/oam.h"
#include "henbtrust/release/manifest.h"
#include "oam/pve_client.h"

namespace henbtrust {

// Each of 1 to kMaxReleaseIdBytes (kMaxReleaseVersionBytes for the version,
// the limits of the wire) of [A-Za-z0-9._-], not "." or "..": a release id
// and version usable in a file name (and without '@').
bool IsValidRelease(std::string_view release_id, std::string_view version);
// How the OAM shows a job.
JobView ViewOf(const UpdateJob& job);

struct OamService::Impl {
  Impl(Store& s, PveLink p, OamConfig c);

  // --- service.cc
  std::vector<Route> Routes();
  // A device's certificate is its current one and the device is not
  // revoked (CheckDeviceCertificate); kNetUnauthenticated otherwise.
  Status CheckDeviceCaller(const PeerIdentity& peer);
  // The same for a recovery image's certificate (role henbtrust-recovery):
  // it must name the recovery key enrolled for its device.
  Status CheckRecoveryCaller(const PeerIdentity& peer);

  // --- device_api.cc
  // `recovery`: the recovery image's poll (POST /v1/recovery/poll), which
  // hears of recover jobs only.
  Result<HttpResponse> Poll(const HttpRequest& req, bool recovery = false);
  // `recovery`: the recovery image's report (POST /v1/recovery/reports),
  // on recover jobs only.
  Result<HttpResponse> Report(const HttpRequest& req, bool recovery = false);

  // --- operator_api.cc
  Result<HttpResponse> ListJobs(const HttpRequest& req);
  Result<HttpResponse> CreateJob(const HttpRequest& req);
  Result<HttpResponse> GetJob(const std::string& id);
  Result<HttpResponse> Inventory(const HttpRequest& req);
  Result<HttpResponse> ListAudit(const HttpRequest& req);

  // --- catalogue.cc
  Result<HttpResponse> Bundle(const HttpRequest& req, const std::string& release_id,
                              const std::string& version);
  // '@' is in neither part (IsValidRelease), so no two releases share a name.
  std::string BundlePath(const std::string& release_id, const std::string& version) const;
  // The catalogue's file of `record`: BundlePath, or in a catalogue written
  // before it the older "<release_id>_<version>.bundle", which two releases
  // can share ("a_b" "1" and "a" "b_1"): that one only if the manifest in
  // it is exactly the record's. kPolicyUnknownRelease if there is none.
  Result<std::string> CataloguePath(const ManifestRecord& record) const;
  // Takes one of `client`'s download slots (max_downloads_per_client);
  // false if it holds them all. ReturnDownloadSlot gives it back.
  bool TakeDownloadSlot(const std::string& client) EXCLUDES(downloads_mu);
  void ReturnDownloadSlot(const std::string& client) EXCLUDES(downloads_mu);
  Result<ReleaseManifest> LoadManifest(const std::string& release_id, const std::string& version,
                                       bool* revoked = nullptr);

  // --- jobs.cc
  Result<UpdateJob> OpenJob(const std::string& device_id, const std::string& release_id,
                            const std::string& version, const std::string& actor,
                            JobKind kind = JobKind::kUpdate, int64_t campaign_id = 0);
  // Applies `event` to `job` (job_machine.h) and stores it with one audit
  // entry, if the job is still in the state it was read in. kPolicyState if
  // the table has no such transition; false if another writer moved the
  // job first (the caller then leaves it alone).
  Result<bool> Advance(UpdateJob& job, JobEvent event, const std::string& actor);
  // Stores `job` (its detail, timers) without a transition; `audit` if the
  // change is worth one.
  Status Touch(UpdateJob& job, const std::optional<AuditEntry>& audit);
  // A fresh instruction token for the job's action in `state`, valid for
  // order_ttl; a new nonce if `new_nonce` or the job has none.
  Status Instruct(UpdateJob& job, JobState state, bool new_nonce) const;

  // --- campaigns.cc
  Result<CampaignView> CreateCampaign(const CreateCampaignRequest& request,
                                      const std::string& actor);
  Result<CampaignView> ViewCampaign(const Campaign& campaign);
  // How a campaign's members stand: the counts, and the lowest batch with a
  // member to open and with a job still open (INT_MAX: none).
  struct CampaignTally {
    std::vector<CampaignMember> members;
    CampaignCounts counts;
    int next_batch = std::numeric_limits<int>::max();
    int unsettled_batch = std::numeric_limits<int>::max();
  };
  Result<CampaignTally> TallyCampaign(int64_t campaign_id);
  // One look at a running campaign: pause it past its failure threshold,
  // end it when every job has ended, else open what its batch and rate allow.
  Status DriveCampaign(Campaign campaign);
  Status DriveCampaigns();
  // Claims job `job_id` for this instance (Store::ClaimJob) before a
  // device's request acts on it; false if another instance holds it (or
  // the store failed: the driver acts on it later).
  bool ClaimNow(int64_t job_id);
  Result<CampaignView> ChangeCampaign(int64_t id, OamService::CampaignAction action,
                                      const std::string& actor);
  Result<HttpResponse> CreateCampaignApi(const HttpRequest& req);
  Result<HttpResponse> ListCampaignsApi(const HttpRequest& req);
  Result<HttpResponse> GetCampaignApi(const std::string& id);
  Result<HttpResponse> ChangeCampaignApi(const HttpRequest& req, const std::string& id,
                                         OamService::CampaignAction action);

  // --- groups.cc
  Status SetDeviceGroup(const std::string& group, const std::string& device_id, bool member,
                        const std::string& actor);
  Result<Page<std::string>> GroupMembers(const std::string& group, const PageQuery& page);
  Result<HttpResponse> ChangeGroupApi(const HttpRequest& req, const std::string& group,
                                      const std::string& device_id, bool member);
  Result<HttpResponse> GroupMembersApi(const HttpRequest& req, const std::string& group);

  // --- revocation.cc
  Result<RevocationOutcome> RevokeRelease(const ReleaseRevocation& request,
                                          const std::string& actor);
  Status UnrevokeRelease(const std::string& release_id, const std::string& version,
                         const std::string& reason, const std::string& actor);
  Result<HttpResponse> RevokeApi(const HttpRequest& req);
  Result<HttpResponse> UnrevokeApi(const HttpRequest& req, const std::string& release_id,
                                   const std::string& version);

  // --- watchdog.cc
  Result<HttpResponse> TicketApi(const HttpRequest& req);           // POST /v1/agent/ticket
  Result<HttpResponse> RecoveryContactApi(const HttpRequest& req);  // POST /v1/recovery/contact
  // The hardware model's ticket period, or config.ticket_period.
  Result<int64_t> TicketPeriodFor(const std::string& hardware_model);
  // The device's watchdog row, or a fresh one (mode normal).
  Result<WatchdogRecord> WatchdogOf(const std::string& device_id);
  // Signs `ticket` and notes it in `row` (not stored).
  Result<TicketAnswer> SignTicket(const DeferralTicket& ticket, WatchdogRecord& row,
                                  std::string detail) const;
  // Has the PVE verify the contact's evidence as a boot of the recovery
  // image it names (RecoveryBootTim); the appraisal's id, else
  // kPolicyTicket.
  Result<int64_t> VerifyRecoveryBoot(const DeviceRecord& device, const TicketRequest& request);
  // The release the recovery image of a contact should update itself to:
  // its model's recovery release, when that is another, not older and not
  // revoked; nullopt otherwise.
  Result<std::optional<std::pair<std::string, std::string>>> RecoveryImageTarget(
      const DeviceRecord& device, const TicketRequest& request);
  // The release a device in recovery is recovered to: its model's recovery
  // release, else its recorded one (kPolicy if that is revoked).
  Result<std::pair<std::string, std::string>> RecoveryTarget(const DeviceRecord& device);

  // --- driver.cc
  // One due job: what Drive() does for it. True if it moved.
  Result<bool> Act(UpdateJob job);
  // Steps 2-5. From a device's poll (`quiet`), a job still waiting for its
  // appraisal is left as it is.
  Result<bool> CheckPreAppraisal(UpdateJob& job, bool quiet = false);
  Result<bool> CheckReport(UpdateJob& job);  // step 9
  Result<bool> MissedDeadline(UpdateJob& job);

  Store& store;
  PveClient pve;
  OamConfig config;
  std::atomic<uint64_t> transitions{0};
  Router router;
  Mutex downloads_mu;
  // client -> bundle requests being served
  std::map<std::string, int> downloads GUARDED_BY(downloads_mu);
};

}  // namespace henbtrust
