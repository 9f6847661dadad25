// Private to the PostgreSQL store: the Store on a PostgreSQL database that
// several service instances share. A pool of connections serves the calls;
// each statement with parameters is prepared once per connection.
//
// The definitions are split by what they keep: connection.cc (the pool,
// statements and transactions), schema.cc (migrations), devices.cc,
// certificates.cc, releases.cc, appraisals.cc (appraisals and spent nonces), jobs.cc,
// watchdog.cc (watchdog rows and model policies), audit.cc.
#pragma once

#include <libpq-fe.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/store/store.h"
#include "store/group_commit.h"

namespace henbtrust::postgres {

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

// Parameters of one statement: text, or binary for BYTEA.
class Params {
 public:
  Params& Text(std::string s) {
    store_.push_back(std::move(s));
    formats_.push_back(0);
    return *this;
  }
  Params& Int(int64_t v) { return Text(std::to_string(v)); }
  Params& Blob(ByteView b) {
    store_.emplace_back(b.begin(), b.end());
    formats_.push_back(1);
    return *this;
  }
  int count() const { return static_cast<int>(store_.size()); }
  std::vector<const char*> values() const;
  std::vector<int> lengths() const;
  const std::vector<int>& formats() const { return formats_; }

 private:
  std::vector<std::string> store_;
  std::vector<int> formats_;
};

// Column `col` of row `row` of a result in text format.
std::string ColText(PGresult* r, int col, int row = 0);
// A decimal the server wrote (a column, a command's tuple count); 0 if not one.
int64_t IntText(const char* text);
int64_t ColInt(PGresult* r, int col, int row = 0);
Bytes ColBlob(PGresult* r, int col, int row = 0);  // a BYTEA, unescaped

class PostgresStore final : public Store {
 public:
  PostgresStore() = default;
  ~PostgresStore() override;

  // Connects, applies the migrations on the first connection, then opens
  // the rest of the pool: `connections` in all.
  Status Open(const std::string& conninfo, int connections);

  std::string Backend() const override { return "postgres"; }
  bool Local() const override { return false; }

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
  // A connection from the pool for one statement (or transaction); a broken
  // one is reset when given back.
  class Lease {
   public:
    explicit Lease(PostgresStore* s);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    PGconn* get() const { return conn_; }

   private:
    PostgresStore* s_;
    PGconn* conn_;
  };

  // connection.cc.
  Status Connect(const std::string& conninfo);
  Result<ResultPtr> Query(const char* sql, const Params& p);
  // A statement with parameters is prepared once per connection (the
  // server parses and plans it once) and executed by name after that.
  // REQUIRES: `conn` leased by the caller.
  Result<ResultPtr> QueryOn(PGconn* conn, const char* sql, const Params& p);
  // The name `sql` is prepared under on `conn`, preparing it the first time.
  // REQUIRES: `conn` leased by the caller, and not in pipeline mode.
  Result<const std::string*> Prepared(PGconn* conn, const char* sql, int params);
  // Several statements at once (the simple query protocol); no parameters.
  Status ExecScript(const char* sql);
  Status Exec(const char* sql, const Params& p);
  // Runs `body` on one connection inside BEGIN ... COMMIT; an error rolls back.
  template <typename T, typename F>
  Result<T> InTransaction(F&& body) {
    Lease conn(this);
    HENB_TRY(QueryOn(conn.get(), "BEGIN", Params()));
    Result<T> out = body(conn.get());
    if (out.ok()) {
      if (auto st = QueryOn(conn.get(), "COMMIT", Params()); !st.ok()) out = st.error();
    }
    if (!out.ok()) (void)QueryOn(conn.get(), "ROLLBACK", Params());
    return out;
  }

  // schema.cc: applies every migration not applied yet, each in one
  // transaction under an advisory lock shared by every instance.
  // REQUIRES: exactly one connection open (BEGIN ... COMMIT share it).
  Status Migrate();

  // appraisals.cc. One result per entry, in order: the commit of
  // appraisals_, in one transaction.
  std::vector<Result<int64_t>> CommitAppraisals(const std::vector<PendingAppraisal>& batch);
  // REQUIRES: `c` leased by the caller.
  Result<int64_t> WriteAppraisal(PGconn* c, const AppraisalRecord& a);

  // jobs.cc.
  Result<std::optional<UpdateJob>> OneJob(const char* sql, const Params& params);

  // audit.cc. REQUIRES: in a transaction on `c`. The advisory lock, held to
  // the end of the transaction, makes appends from every instance form one
  // chain.
  Status WriteAudit(PGconn* c, const AuditEntry& entry);

  Mutex mu_;
  std::condition_variable cv_;  // signalled when free_ gains a connection
  std::vector<PGconn*> all_;    // owned
  std::vector<PGconn*> free_ GUARDED_BY(mu_);
  // The statements prepared on each connection, by SQL text (every statement
  // is a literal); the map is complete after Open, and each inner map is
  // touched only by the holder of that connection's lease.
  std::unordered_map<PGconn*, std::unordered_map<const char*, std::string>> prepared_;
  // Appraisals, committed in batches (store/group_commit.h); closed
  // before the connections.
  GroupCommit appraisals_{
      [this](const std::vector<PendingAppraisal>& batch) { return CommitAppraisals(batch); }};
};

}  // namespace henbtrust::postgres
