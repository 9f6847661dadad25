// The PVE's (and later the OAM's) durable state behind one interface, with
// two backends that pass one test suite: SQLite (embedded default: one file,
// WAL, no set-up) and PostgreSQL (several service instances on one
// database). Every method is one transaction; implementations are safe to
// call from several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/core/env.h"
#include "henbtrust/store/campaign.h"
#include "henbtrust/store/job_state.h"

namespace henbtrust {

// An enrolled H(e)NB.
struct DeviceRecord {
  std::string device_id;
  std::string hardware_model;
  Bytes ek_public;              // TPM2B_PUBLIC
  Bytes ek_certificate;         // DER; empty for a soft TrE enrolled by an operator
  Bytes ak_public;              // TPM2B_PUBLIC
  std::string release_id;       // the recorded configuration: release id ...
  std::string release_version;  // ... and version
  std::string state;            // e.g. "enrolled", "quarantined"
  uint32_t reset_count = 0;     // last TPM clock info seen (must not go backwards)
  uint64_t clock = 0;
  int64_t updated_at = 0;
  std::string agent_address;  // "host:port" of the device agent, for pull appraisal; may be empty
  // The serial (hex) of the one device certificate that is valid for this
  // device: the one its latest enrollment issued. A certificate with
  // another serial (an earlier enrollment's) is refused. Empty for records
  // written before the PVE kept it: then any certificate it issued is taken.
  std::string certificate_serial = {};
  // The public key (DER SubjectPublicKeyInfo) of the recovery image's TLS
  // identity (docs/recovery.md), recorded at the first enrollment that
  // named one and never changed after: every certificate the PVE issues
  // for it (role henbtrust-recovery) may speak for the recovery image.
  // Empty for a device without a boot stage.
  Bytes recovery_public_key = {};
};

// Whether the device certificate with serial `presented_serial` (hex, as
// Certificate::SerialHex) may speak for `device`: kNetUnauthenticated when
// the device was revoked or decommissioned, or a later enrollment or a
// renewal replaced that certificate.
Status CheckDeviceCertificate(const DeviceRecord& device, std::string_view presented_serial);

// Whether the recovery certificate `certificate_der` may speak for the
// recovery image of `device`: kNetUnauthenticated when the device was
// revoked or decommissioned, has no recovery key recorded, or the
// certificate names another key.
Status CheckRecoveryCertificate(const DeviceRecord& device, ByteView certificate_der);

// Device states (DeviceRecord::state).
inline constexpr const char* kDeviceEnrolled = "enrolled";
// An operator revoked the device's certificate: its requests are refused
// and it may not enroll again.
inline constexpr const char* kDeviceRevoked = "revoked";
// An operator took the device out of service for good: as revoked (its
// requests are refused, it may neither renew nor enroll again), and the
// record keeps its last certificate's serial, which TLS servers refuse at
// the handshake (Store::RefusedCertificateSerials).
inline constexpr const char* kDeviceDecommissioned = "decommissioned";

// A vendor-signed release manifest the PVE appraises against.
struct ManifestRecord {
  std::string release_id;
  std::string version;
  Bytes manifest;              // canonical bytes (release/manifest.h)
  std::string revoked_reason;  // empty: not revoked
};

struct AppraisalRecord {
  int64_t id = 0;
  std::string device_id;
  std::string status;  // affirming / warning / contraindicated
  std::string result;  // the signed attestation result
  int64_t created_at = 0;
  // When not empty, this nonce is spent in the same transaction; if it was
  // spent before, nothing is recorded and kPolicyNonce comes back.
  Bytes spent_nonce = {};
  int64_t nonce_expires_at = 0;  // the spent nonce is remembered until then
  // With a verified quote: the device's last seen TPM clock moves forward to
  // (reset_count, clock), in the same transaction; it never moves back.
  bool advance_clock = false;
  uint32_t reset_count = 0;
  uint64_t clock = 0;
};

// An update job of the OAM: the nine steps of docs/design.md section 3 for one
// device, as a persisted state machine (states: docs/oam.md). The store
// keeps what the OAM writes; the OAM decides the transitions.
struct UpdateJob {
  int64_t id = 0;
  std::string device_id;
  std::string release_id;       // the target release ...
  std::string version;          // ... and version
  std::string from_release_id;  // what the device ran when the job opened
  std::string from_version;
  JobKind kind = JobKind::kUpdate;
  JobState state = JobState::kOpened;
  bool open = true;            // false once the job has ended; one open job per device
  Bytes expected_tim;          // step 5, from the target manifest
  Bytes order_nonce;           // the nonce of the order's completion quote (step 8)
  std::string order;           // the signed deployment order, or the current instruction
  int64_t deadline = 0;        // the device must have acted by then
  int attempts = 0;            // retries of the current step so far
  int64_t next_action_at = 0;  // the OAM acts on the job again at or after this time
  std::string report;          // the device's last report (JSON), kept for step 9
  std::string detail;          // the last outcome, in words
  int64_t created_at = 0;
  int64_t updated_at = 0;
  // Which OAM instance drives the job until when (ClaimDueJobs writes
  // them; TransitionJob leaves them as they are).
  std::string lease_owner = {};
  int64_t lease_until = 0;
};

// The OAM's view of a device's boot stage (docs/recovery.md): its mode
// as the device last said, why it entered recovery, and the last ticket
// the OAM issued it. One row per device, written with each ticket.
struct WatchdogRecord {
  std::string device_id;
  std::string mode = "normal";  // normal / minimal / recovery
  std::string reason;           // why recovery was last entered; empty if never
  int64_t deadline = 0;         // Unix seconds: the last deferral's time plus its period (0: none)
  std::string last_ticket;      // "defer on appraisal 42", "recover: ...", in words
  int64_t last_ticket_at = 0;
  int64_t updated_at = 0;
};

// Per hardware model: the ticket period and the release a device in
// recovery is recovered to (empty: the device's own recorded release).
struct ModelPolicy {
  std::string hardware_model;
  int64_t ticket_period = 0;  // seconds; 0: the OAM's default
  std::string recovery_release_id;
  std::string recovery_version;
  int64_t updated_at = 0;
};

// One entry of the append-only audit log. The store assigns `seq`,
// `prev_hash` and `hash` = AuditHash(prev_hash, entry) when appending, in
// the transaction of the change it records.
struct AuditEntry {
  int64_t seq = 0;
  int64_t at = 0;
  std::string actor;    // "oam", "device:<id>", "operator:<name>"
  std::string subject;  // "job:<id>", "release:<id>/<version>", ...
  std::string event;    // e.g. "ordered", "reported installed", "committed"
  std::string detail;
  Bytes prev_hash;  // the hash of the previous entry; 32 zero bytes for the first
  Bytes hash;
};

// SHA-256 over prev_hash, seq, at and the length-prefixed text fields: the
// chain a reader checks with VerifyAuditChain (docs/oam.md).
Bytes AuditHash(ByteView prev_hash, const AuditEntry& entry);

class Store {
 public:
  virtual ~Store() = default;
  virtual std::string Backend() const = 0;
  // True when a call waits for no other process (a file on this machine),
  // false when it is a round trip to a database server: callers that must
  // not block (a server's connection thread) then hand the work to others.
  virtual bool Local() const = 0;

  // Insert or replace; with `audit`, that entry is appended in the same
  // transaction (as for every method below that takes one).
  virtual Status PutDevice(const DeviceRecord& device, const std::optional<AuditEntry>& audit) = 0;
  Status PutDevice(const DeviceRecord& device) { return PutDevice(device, std::nullopt); }
  virtual Result<std::optional<DeviceRecord>> GetDevice(const std::string& device_id) = 0;
  // The device's recorded configuration becomes `release_id` `version` (the
  // OAM's commit); nothing else of the record changes, so that a concurrent
  // appraisal's TPM clock is never written over. kNotFound if no such device.
  virtual Status SetDeviceRelease(const std::string& device_id, const std::string& release_id,
                                  const std::string& version, int64_t updated_at,
                                  const std::optional<AuditEntry>& audit) = 0;
  Status SetDeviceRelease(const std::string& device_id, const std::string& release_id,
                          const std::string& version, int64_t updated_at) {
    return SetDeviceRelease(device_id, release_id, version, updated_at, std::nullopt);
  }

  virtual Status PutManifest(const ManifestRecord& manifest) = 0;  // insert or replace
  virtual Result<std::optional<ManifestRecord>> GetManifest(const std::string& release_id,
                                                            const std::string& version) = 0;
  // kNotFound if no such manifest.
  virtual Status RevokeRelease(const std::string& release_id, const std::string& version,
                               const std::string& reason,
                               const std::optional<AuditEntry>& audit) = 0;
  Status RevokeRelease(const std::string& release_id, const std::string& version,
                       const std::string& reason) {
    return RevokeRelease(release_id, version, reason, std::nullopt);
  }
  // Withdraws a revocation, with `audit` in the same transaction.
  // kNotFound if no such manifest.
  virtual Status UnrevokeRelease(const std::string& release_id, const std::string& version,
                                 const AuditEntry& audit) = 0;

  // Nonces are issued without the store (the PVE authenticates them) and
  // spent here, single use across every process sharing the store: true the
  // first time, false ever after (until it expires and is purged). A nonce
  // always comes with the same `expires_at` (the PVE's nonces carry it);
  // stores may key spent nonces by the pair.
  virtual Result<bool> SpendNonce(ByteView nonce, int64_t expires_at) = 0;
  // Forgets spent nonces that expired before `now`; returns how many.
  virtual Result<int64_t> PurgeSpentNonces(int64_t now) = 0;

  // The outcome of an enrollment, in one transaction with `audit`: `device`
  // is written unless the id is enrolled with another EK
  // (kPolicyDeviceConflict) or was revoked (kPolicyEnrollment), checked in
  // that transaction, so that no concurrent enrollment or revocation is
  // written over; a device enrolled before keeps the larger TPM clock.
  virtual Status EnrollDevice(const DeviceRecord& device, const AuditEntry& audit) = 0;
  // The device's state becomes kDeviceRevoked and no certificate speaks for
  // it any more; nothing else of its record changes. kNotFound if no such
  // device.
  virtual Status RevokeDevice(const std::string& device_id, int64_t updated_at,
                              const AuditEntry& audit) = 0;
  // A certificate renewal, in one transaction with `audit`: the device's
  // certificate_serial becomes `new_serial` if it is still `from_serial`
  // (the serial the caller read, empty for a record from before serials
  // were kept) and the device is neither revoked nor decommissioned;
  // nothing else of its record changes. Errors, with nothing changed:
  // kNotFound if no such device, kNetUnauthenticated if it was revoked or
  // decommissioned, kPolicyDeviceConflict if another renewal or an
  // enrollment replaced the certificate first.
  virtual Status RenewDeviceCertificate(const std::string& device_id,
                                        const std::string& from_serial,
                                        const std::string& new_serial, int64_t updated_at,
                                        const AuditEntry& audit) = 0;
  // The device's state becomes kDeviceDecommissioned, in one transaction
  // with `audit`; its certificate serial stays, so that servers can refuse
  // that certificate. kNotFound if no such device, kPolicyState if it was
  // decommissioned already (nothing written).
  virtual Status DecommissionDevice(const std::string& device_id, int64_t updated_at,
                                    const AuditEntry& audit) = 0;
  // The certificate serials of every decommissioned device, in no order:
  // what a TLS server refuses at the handshake.
  virtual Result<std::vector<std::string>> RefusedCertificateSerials() = 0;

  // Returns the new record's id; see AppraisalRecord for the nonce and clock.
  virtual Result<int64_t> RecordAppraisal(const AppraisalRecord& appraisal) = 0;
  // The same without holding the caller's thread while the record commits:
  // `done` gets what RecordAppraisal would return, once the record is
  // committed or refused, on a thread of the store's (it must not block and
  // must not throw). A store that writes records in batches overrides it;
  // this default records at once and calls `done` before returning.
  using AppraisalDone = std::function<void(Result<int64_t>)>;
  // By value: the overrides keep both until the record commits.
  // NOLINTNEXTLINE(performance-unnecessary-value-param): this default only reads them
  virtual void RecordAppraisalAsync(AppraisalRecord appraisal, AppraisalDone done) {
    done(RecordAppraisal(appraisal));
  }
  // A record for RecordAppraisalAsync is being made (its appraisal is under
  // way): a store that writes records in batches waits for such records
  // while it gathers one, and for nothing else. Each AppraisalUnderWay is
  // ended by one AppraisalEnded, after the record's RecordAppraisalAsync or
  // when none will come. Hints only: a count left too high makes each
  // commit wait out the gathering window, never loses a record.
  virtual void AppraisalUnderWay() {}
  virtual void AppraisalEnded() {}
  virtual Result<std::optional<AppraisalRecord>> LatestAppraisal(const std::string& device_id) = 0;
  // Appraisals with id > `after_id` (of `device_id` only, unless it is
  // empty), by id, at most `limit`; without their nonce and clock.
  virtual Result<std::vector<AppraisalRecord>> ListAppraisals(const std::string& device_id,
                                                              int64_t after_id, int limit) = 0;

  // Every enrolled device, by id, from `after` (exclusive) on, at most `limit`.
  virtual Result<std::vector<DeviceRecord>> ListDevices(const std::string& after, int limit) = 0;

  // Update jobs. CreateJob returns the new id; kPolicyJobConflict if the
  // device already has an open job. Both write `audit` in the same transaction.
  // With `campaign_id`, the job is that campaign's job for the device, in
  // the same transaction: kPolicyJobConflict too if the campaign's member
  // already has a job or a refusal (another OAM got there first).
  virtual Result<int64_t> CreateJob(const UpdateJob& job, const AuditEntry& audit,
                                    int64_t campaign_id) = 0;
  Result<int64_t> CreateJob(const UpdateJob& job, const AuditEntry& audit) {
    return CreateJob(job, audit, 0);
  }
  virtual Result<std::optional<UpdateJob>> GetJob(int64_t id) = 0;
  virtual Result<std::optional<UpdateJob>> OpenJobFor(const std::string& device_id) = 0;
  // Compare and set: stores every field of `job` if its stored state is
  // still `from_state`, with `audit` when there is one (a job that only waits
  // longer needs none), and returns true; returns false and changes nothing
  // if another writer moved the job first.
  virtual Result<bool> TransitionJob(const UpdateJob& job, JobState from_state,
                                     const std::optional<AuditEntry>& audit) = 0;
  // Open jobs with next_action_at <= `due_by`, oldest first; or, when
  // `open_only` is false, every job with id > `after_id`, by id. At most
  // `limit`.
  virtual Result<std::vector<UpdateJob>> ListJobs(bool open_only, int64_t due_by, int limit,
                                                  int64_t after_id) = 0;
  Result<std::vector<UpdateJob>> ListJobs(bool open_only, int64_t due_by, int limit) {
    return ListJobs(open_only, due_by, limit, 0);
  }
  // The driver's claim (docs/oam.md, "Several OAMs"): open jobs with
  // next_action_at <= `now` whose lease has run out (lease_until <= `now`)
  // or is `owner`'s already, oldest first, at most `limit`, leased to
  // `owner` until `lease_until` in one transaction. Jobs another instance
  // holds, or is claiming at this moment, are passed over, not waited for.
  virtual Result<std::vector<UpdateJob>> ClaimDueJobs(const std::string& owner, int64_t now,
                                                      int64_t lease_until, int limit) = 0;

  // The claim of one job, whatever its next action: true if it is now
  // `owner`'s until `lease_until` (its lease had run out by `now`, or was
  // `owner`'s already), false if another instance holds it. A device's
  // request that acts on its job at once (a report's step 9) claims it so.
  virtual Result<bool> ClaimJob(int64_t id, const std::string& owner, int64_t now,
                                int64_t lease_until) = 0;

  // Campaigns. CreateCampaign stores it with its members and `audit` in one
  // transaction and returns its id.
  virtual Result<int64_t> CreateCampaign(const Campaign& campaign,
                                         const std::vector<CampaignMember>& members,
                                         const AuditEntry& audit) = 0;
  virtual Result<std::optional<Campaign>> GetCampaign(int64_t id) = 0;
  // Campaigns with id > `after_id` (only running ones if `running_only`), by
  // id, at most `limit`.
  virtual Result<std::vector<Campaign>> ListCampaigns(bool running_only, int64_t after_id,
                                                      int limit) = 0;
  // Running campaigns with id > `after_id` whose lease has run out or is
  // `owner`'s, by id, at most `limit`, leased to `owner` until
  // `lease_until` in one transaction: one instance drives each campaign.
  virtual Result<std::vector<Campaign>> ClaimCampaigns(const std::string& owner, int64_t now,
                                                       int64_t lease_until, int64_t after_id,
                                                       int limit) = 0;
  // Compare and set, as TransitionJob: stores `campaign` if its stored state
  // is still `from_state`, with `audit` if given.
  virtual Result<bool> UpdateCampaign(const Campaign& campaign, CampaignState from_state,
                                      const std::optional<AuditEntry>& audit) = 0;
  // Every member, by batch then device id.
  virtual Result<std::vector<CampaignMember>> CampaignMembers(int64_t campaign_id) = 0;
  // Records why no job could be opened for a member that has neither a job
  // nor a note yet; false (nothing changed) if it has one.
  virtual Result<bool> RefuseCampaignMember(int64_t campaign_id, const std::string& device_id,
                                            const std::string& note) = 0;

  // Group labels, for campaign selections ("group=NAME"): a device is in
  // any number of groups. Adds `device_id` to `group` (or, with `member`
  // false, takes it out), with `audit`, in one transaction; kNotFound for a
  // device that is not enrolled. A change that changes nothing (adding a
  // member again, removing one that is not) writes no audit entry.
  virtual Status SetDeviceGroup(const std::string& group, const std::string& device_id, bool member,
                                const AuditEntry& audit) = 0;
  // The group's devices with id > `after`, by id, at most `limit`.
  virtual Result<std::vector<std::string>> GroupMembers(const std::string& group,
                                                        const std::string& after, int limit) = 0;

  // The device's watchdog row (WatchdogRecord), replaced whole, with
  // `audit` (if any) in the same transaction; kNotFound for a device that
  // is not enrolled.
  virtual Status PutWatchdog(const WatchdogRecord& record,
                             const std::optional<AuditEntry>& audit) = 0;
  virtual Result<std::optional<WatchdogRecord>> GetWatchdog(const std::string& device_id) = 0;
  // The rows of devices with id > `after`, by device id, at most `limit`.
  virtual Result<std::vector<WatchdogRecord>> ListWatchdogs(const std::string& after,
                                                            int limit) = 0;
  // A hardware model's policy, replaced whole, with `audit`.
  virtual Status PutModelPolicy(const ModelPolicy& policy, const AuditEntry& audit) = 0;
  virtual Result<std::optional<ModelPolicy>> GetModelPolicy(const std::string& hardware_model) = 0;

  virtual Status AppendAudit(const AuditEntry& entry) = 0;
  // Entries with seq > `after_seq`, in order, at most `limit`.
  virtual Result<std::vector<AuditEntry>> ListAudit(int64_t after_seq, int limit) = 0;
};

// Reads the whole audit log and checks that every entry's hash is
// AuditHash(previous hash, entry) and that seq has no gap. Returns the
// number of entries; kStoreAuditBroken naming the first bad entry.
Result<int64_t> VerifyAuditChain(Store& store);

// `path` is created if absent. Schema migrations are applied on open.
// `env`'s steady clock paces the store's looks for the commits of other
// processes (not owned; outlives the store). SQLite does its own file I/O.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, Env* env = Env::Default());
// `conninfo` in libpq syntax, e.g. "host=127.0.0.1 port=5432 user=henb dbname=henb";
// `connections` is the size of the connection pool that callers share.
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo, int connections = 8);
// "sqlite:PATH" (or a bare path) or "postgres:CONNINFO" / "postgresql://..." URI.
// `env` as for OpenSqliteStore (the PostgreSQL store keeps no clock).
Result<std::unique_ptr<Store>> OpenStore(const std::string& location, Env* env = Env::Default());

}  // namespace henbtrust
