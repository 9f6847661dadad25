// Private to the SQLite store: the Store on one SQLite file in WAL mode. One
// writer connection (mu_) takes every write; reads go to a few read-only
// connections and proceed while the writer commits; appraisal records are
// group-committed by a writer thread.
//
// The definitions are split by what they keep: open.cc (connections and
// transactions), schema.cc (migrations), devices.cc (devices and their
// cache), certificates.cc, releases.cc, appraisals.cc (appraisals, spent nonces and the
// group commit), jobs.cc, watchdog.cc (watchdog rows and model policies), audit.cc.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "henbtrust/core/env.h"
#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/store/store.h"
#include "store/group_commit.h"
#include "store/sqlite/statement.h"

namespace henbtrust::sqlite {

class SqliteStore final : public Store {
 public:
  // `env`'s steady clock times the looks for other connections' commits.
  explicit SqliteStore(Env* env) : env_(env) {}
  // Stops the writer thread once it has written everything queued.
  ~SqliteStore() override;

  // Opens (creates) `path`, applies the migrations and opens the readers.
  Status Open(const std::string& path);

  std::string Backend() const override { return "sqlite"; }
  bool Local() const override { return true; }

  Status PutDevice(const DeviceRecord& d, const std::optional<AuditEntry>& audit) override;
  Result<std::optional<DeviceRecord>> GetDevice(const std::string& id) override;
  Status SetDeviceRelease(const std::string& device_id, const std::string& release_id,
                          const std::string& version, int64_t updated_at,
                          const std::optional<AuditEntry>& audit) override;
  Status EnrollDevice(const DeviceRecord& d, const AuditEntry& audit) override;
  Status RevokeDevice(const std::string& device_id, int64_t updated_at,
                      const AuditEntry& audit) override;
  // certificates.cc.
  Status RenewDeviceCertificate(const std::string& device_id, const std::string& from_serial,
                                const std::string& new_serial, int64_t updated_at,
                                const AuditEntry& audit) override;
  Status DecommissionDevice(const std::string& device_id, int64_t updated_at,
                            const AuditEntry& audit) override;
  Result<std::vector<std::string>> RefusedCertificateSerials() override;
  Result<std::vector<DeviceRecord>> ListDevices(const std::string& after, int limit) override;

  Status PutManifest(const ManifestRecord& m) override;
  Result<std::optional<ManifestRecord>> GetManifest(const std::string& release_id,
                                                    const std::string& version) override;
  Status RevokeRelease(const std::string& release_id, const std::string& version,
                       const std::string& reason, const std::optional<AuditEntry>& audit) override;
  Status UnrevokeRelease(const std::string& release_id, const std::string& version,
                         const AuditEntry& audit) override;

  Result<bool> SpendNonce(ByteView nonce, int64_t expires_at) override;
  Result<int64_t> PurgeSpentNonces(int64_t now) override;
  // Group commit: records queue for one writer thread, which writes
  // everything queued in one transaction and then answers each. A record
  // whose nonce was spent before writes nothing, so that it refuses only
  // itself; any other failure fails the whole batch, and nothing of it stays.
  Result<int64_t> RecordAppraisal(const AppraisalRecord& a) override;
  void RecordAppraisalAsync(AppraisalRecord a, AppraisalDone done) override;
  void AppraisalUnderWay() override { appraisals_.UnderWay(); }
  void AppraisalEnded() override { appraisals_.Ended(); }
  Result<std::optional<AppraisalRecord>> LatestAppraisal(const std::string& device_id) override;
  Result<std::vector<AppraisalRecord>> ListAppraisals(const std::string& device_id,
                                                      int64_t after_id, int limit) override;

  Result<int64_t> CreateJob(const UpdateJob& job, const AuditEntry& audit,
                            int64_t campaign_id) override;
  using Store::CreateJob;
  Result<std::optional<UpdateJob>> GetJob(int64_t id) override;
  Result<std::optional<UpdateJob>> OpenJobFor(const std::string& device_id) override;
  Result<bool> TransitionJob(const UpdateJob& job, JobState from_state,
                             const std::optional<AuditEntry>& audit) override;
  Result<std::vector<UpdateJob>> ListJobs(bool open_only, int64_t due_by, int limit,
                                          int64_t after_id) override;
  using Store::ListJobs;
  Result<std::vector<UpdateJob>> ClaimDueJobs(const std::string& owner, int64_t now,
                                              int64_t lease_until, int limit) override;

  Result<int64_t> CreateCampaign(const Campaign& campaign,
                                 const std::vector<CampaignMember>& members,
                                 const AuditEntry& audit) override;
  Result<std::optional<Campaign>> GetCampaign(int64_t id) override;
  Result<std::vector<Campaign>> ListCampaigns(bool running_only, int64_t after_id,
                                              int limit) override;
  Result<bool> ClaimJob(int64_t id, const std::string& owner, int64_t now,
                        int64_t lease_until) override;
  Result<std::vector<Campaign>> ClaimCampaigns(const std::string& owner, int64_t now,
                                               int64_t lease_until, int64_t after_id,
                                               int limit) override;
  Result<bool> UpdateCampaign(const Campaign& campaign, CampaignState from_state,
                              const std::optional<AuditEntry>& audit) override;
  Result<std::vector<CampaignMember>> CampaignMembers(int64_t campaign_id) override;
  Result<bool> RefuseCampaignMember(int64_t campaign_id, const std::string& device_id,
                                    const std::string& note) override;

  Status SetDeviceGroup(const std::string& group, const std::string& device_id, bool member,
                        const AuditEntry& audit) override;
  Result<std::vector<std::string>> GroupMembers(const std::string& group, const std::string& after,
                                                int limit) override;

  // watchdog.cc.
  Status PutWatchdog(const WatchdogRecord& record, const std::optional<AuditEntry>& audit) override;
  Result<std::optional<WatchdogRecord>> GetWatchdog(const std::string& device_id) override;
  Result<std::vector<WatchdogRecord>> ListWatchdogs(const std::string& after, int limit) override;
  Status PutModelPolicy(const ModelPolicy& policy, const AuditEntry& audit) override;
  Result<std::optional<ModelPolicy>> GetModelPolicy(const std::string& hardware_model) override;

  Status AppendAudit(const AuditEntry& entry) override;
  Result<std::vector<AuditEntry>> ListAudit(int64_t after_seq, int limit) override;

 private:
  // A read-only connection; its mutex guards the connection and its cache.
  struct Reader {
    Mutex mu;
    sqlite3* db = nullptr;  // set before the reader is shared; used under mu
    StatementCache cache GUARDED_BY(mu);
  };
  static constexpr int kReaders = 4;

  // Devices read before, so that an appraisal need not read its device
  // again: a reader connection reloads every page it reads after each
  // commit (WAL mode drops its page cache), about 20 us of the PVE's CPU
  // per appraisal. This store writes every change of a
  // device (PutDevice, SetDeviceRelease, the clock in WriteAppraisal) and
  // keeps the cache in step with it; a commit by any other connection to the
  // file (another process, or another store) empties it. Such commits are
  // looked for after each of this store's own, and before a read when the
  // last look is more than kOthersCheckMs old.
  struct DeviceCache {
    Mutex mu;
    std::unordered_map<std::string, DeviceRecord> records GUARDED_BY(mu);
    uint64_t generation GUARDED_BY(mu) = 0;   // moves on when records is emptied
    uint64_t clock_epoch GUARDED_BY(mu) = 0;  // moves on with each appraisal commit
  };
  static constexpr size_t kCachedDevices = 100'000;
  static constexpr int64_t kOthersCheckMs = 100;

  // For a write of devices, under mu_: whatever its outcome (a failed
  // commit may still have changed the file), the cache is emptied before
  // mu_ is released.
  struct ForgetDevicesAfter {
    SqliteStore* store;
    ~ForgetDevicesAfter() { store->ForgetDevices(); }
  };

  // open.cc: connections, statements and transactions.
  Status OpenReaders(const std::string& path);
  Reader& NextReader() { return *readers_[next_reader_++ % readers_.size()]; }
  Status Exec(const std::string& sql);
  Error Fail(const std::string& what, sqlite3* db = nullptr);
  // Steps `s` to its end: the failure, named `what`, if it does not get there.
  Status Done(Stmt& s, const std::string& what);
  // Runs one transaction-control statement, prepared once.
  Status Control(const char* sql) REQUIRES(mu_);
  // Runs `body` in one IMMEDIATE transaction: committed if it returns a
  // value, rolled back if it returns an error. `body` runs under mu_, and
  // says so (`[&]() REQUIRES(mu_) -> Status`) to use what mu_ guards.
  template <typename T, typename F>
  Result<T> InTransaction(F&& body) REQUIRES(mu_) {
    HENB_TRY(Exec("BEGIN IMMEDIATE"));
    Result<T> out = body();
    if (out.ok()) {
      if (Status st = Exec("COMMIT"); !st.ok()) out = st.error();
    }
    if (!out.ok()) (void)Exec("ROLLBACK");
    return out;
  }

  // schema.cc: applies every migration not applied yet, each in one
  // transaction. REQUIRES: db_ open.
  Status Migrate() REQUIRES(mu_);

  // devices.cc.
  // The devices row of `d` (not its TPM clock, which device_state keeps).
  // REQUIRES: in a transaction.
  Status WriteDeviceRow(const DeviceRecord& d) REQUIRES(mu_);
  Result<std::optional<DeviceRecord>> ReadDevice(const std::string& id);
  void ForgetDevices() EXCLUDES(devices_.mu);
  // PRAGMA data_version moves on when a connection other than this one
  // commits.
  void NoteCommitsOfOthers() REQUIRES(mu_) EXCLUDES(devices_.mu);
  // After a commit of appraisals: the cached clocks move as the stored ones
  // did (forward only).
  void NoteAppraisalsCommitted(const std::vector<PendingAppraisal>& batch,
                               const std::vector<Result<int64_t>>& results) REQUIRES(mu_)
      EXCLUDES(devices_.mu);

  // appraisals.cc.
  // One result per entry, in order: the commit of appraisals_.
  std::vector<Result<int64_t>> CommitAppraisals(const std::vector<PendingAppraisal>& batch)
      EXCLUDES(mu_);
  Result<int64_t> WriteAppraisal(const AppraisalRecord& a) REQUIRES(mu_);
  Result<bool> Spend(ByteView nonce, int64_t expires_at) REQUIRES(mu_);

  // jobs.cc: the one job `sql` selects, on a reader, with `bind` binding its
  // parameters.
  template <typename Bind>
  Result<std::optional<UpdateJob>> OneJob(const char* sql, Bind bind);

  // audit.cc. REQUIRES: in a transaction.
  Status WriteAudit(const AuditEntry& entry) REQUIRES(mu_);

  Mutex mu_;  // the writer connection
  Env* const env_;
  sqlite3* db_ = nullptr;                 // set by Open, before the store is shared; used under mu_
  StatementCache cache_ GUARDED_BY(mu_);  // of db_
  std::vector<std::unique_ptr<Reader>> readers_;
  // Appraisals, committed in batches (store/group_commit.h); closed
  // before the connections.
  GroupCommit appraisals_{
      [this](const std::vector<PendingAppraisal>& batch) { return CommitAppraisals(batch); }};
  std::atomic<size_t> next_reader_{0};
  DeviceCache devices_;
  int64_t data_version_ GUARDED_BY(mu_) = -1;
  std::atomic<int64_t> others_checked_ms_{0};
};

}  // namespace henbtrust::sqlite
