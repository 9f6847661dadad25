#include <libpq-fe.h>

#include <condition_variable>
#include <mutex>
#include <unordered_map>

#include "henbtrust/store/store.h"

namespace henbtrust {

namespace {

const char* const kMigrations[] = {
    R"(CREATE TABLE devices (
         device_id TEXT PRIMARY KEY, hardware_model TEXT NOT NULL, ek_public BYTEA NOT NULL,
         ek_certificate BYTEA NOT NULL, ak_public BYTEA NOT NULL, release_version TEXT NOT NULL,
         state TEXT NOT NULL, reset_count BIGINT NOT NULL, clock BIGINT NOT NULL, updated_at BIGINT NOT NULL);
       CREATE TABLE manifests (
         release_id TEXT NOT NULL, version TEXT NOT NULL, manifest BYTEA NOT NULL,
         revoked_reason TEXT NOT NULL DEFAULT '', PRIMARY KEY (release_id, version));
       CREATE TABLE nonces (nonce BYTEA PRIMARY KEY, device_id TEXT NOT NULL, expires_at BIGINT NOT NULL);
       CREATE INDEX nonces_expiry ON nonces (expires_at);
       CREATE TABLE appraisals (
         id BIGSERIAL PRIMARY KEY, device_id TEXT NOT NULL, status TEXT NOT NULL,
         result TEXT NOT NULL, created_at BIGINT NOT NULL);
       CREATE INDEX appraisals_device ON appraisals (device_id, id);)",
    R"(ALTER TABLE devices ADD COLUMN release_id TEXT NOT NULL DEFAULT '';
       ALTER TABLE devices ADD COLUMN agent_address TEXT NOT NULL DEFAULT '';
       CREATE TABLE enrollments (
         device_id TEXT PRIMARY KEY, secret_digest BYTEA NOT NULL, request TEXT NOT NULL,
         expires_at BIGINT NOT NULL);)",
    R"(DROP TABLE nonces;
       CREATE TABLE spent_nonces (nonce BYTEA PRIMARY KEY, expires_at BIGINT NOT NULL);
       CREATE INDEX spent_nonces_expiry ON spent_nonces (expires_at);)",
    R"(CREATE TABLE jobs (
         id BIGSERIAL PRIMARY KEY, device_id TEXT NOT NULL, release_id TEXT NOT NULL,
         version TEXT NOT NULL, from_release_id TEXT NOT NULL, from_version TEXT NOT NULL,
         state TEXT NOT NULL, open BOOLEAN NOT NULL, expected_tim BYTEA NOT NULL,
         order_nonce BYTEA NOT NULL, order_token TEXT NOT NULL, deadline BIGINT NOT NULL,
         attempts INTEGER NOT NULL, next_action_at BIGINT NOT NULL, report TEXT NOT NULL,
         detail TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
       CREATE UNIQUE INDEX jobs_open_device ON jobs (device_id) WHERE open;
       CREATE INDEX jobs_due ON jobs (open, next_action_at);
       CREATE TABLE audit (
         seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL, subject TEXT NOT NULL,
         event TEXT NOT NULL, detail TEXT NOT NULL, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL);)",
    // As the SQLite store's migration 7 (the two stores keep their own numbering).
    R"(ALTER TABLE devices ADD COLUMN certificate_serial TEXT NOT NULL DEFAULT '';
       DROP TABLE IF EXISTS enrollments;)",
};

#define HENB_JOB_COLUMNS                                                                 \
  "id, device_id, release_id, version, from_release_id, from_version, state, open, "     \
  "expected_tim, order_nonce, order_token, deadline, attempts, next_action_at, report, " \
  "detail, created_at, updated_at"

// Arbitrary keys for the advisory locks that serialise migrations, and
// appends to the audit chain, across instances.
constexpr int64_t kMigrationLock = 0x68656e62;
constexpr int64_t kAuditLock = 0x68656e63;

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
  std::vector<const char*> values() const {
    std::vector<const char*> v;
    for (const auto& s : store_) v.push_back(s.data());
    return v;
  }
  std::vector<int> lengths() const {
    std::vector<int> v;
    for (const auto& s : store_) v.push_back(static_cast<int>(s.size()));
    return v;
  }
  const std::vector<int>& formats() const { return formats_; }

 private:
  std::vector<std::string> store_;
  std::vector<int> formats_;
};

class PostgresStore final : public Store {
 public:
  ~PostgresStore() override {
    for (PGconn* c : all_) PQfinish(c);
  }

  Status Connect(const std::string& conninfo) {
    PGconn* c = PQconnectdb(conninfo.c_str());
    all_.push_back(c);
    if (PQstatus(c) != CONNECTION_OK) {
      return Error(ErrorCode::kStore,
                   std::string("cannot connect to PostgreSQL: ") + PQerrorMessage(c));
    }
    prepared_.try_emplace(c);
    free_.push_back(c);
    return OkStatus();
  }

  // Migrations run on the first connection before the others open, so that
  // BEGIN ... COMMIT below share one session.
  Status Open(const std::string& conninfo, int connections) {
    HENB_TRY(Connect(conninfo));
    HENB_TRY(Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)",
                  Params()));
    for (size_t v = 1; v <= std::size(kMigrations); ++v) {
      HENB_TRY(Exec("BEGIN", Params()));
      Status st = Exec("SELECT pg_advisory_xact_lock($1)", Params().Int(kMigrationLock));
      Result<ResultPtr> applied = st.ok()
                                      ? Query("SELECT 1 FROM schema_migrations WHERE version = $1",
                                              Params().Int(static_cast<int64_t>(v)))
                                      : Result<ResultPtr>(st.error());
      if (applied.ok() && PQntuples(applied->get()) == 0) {
        st = ExecScript(kMigrations[v - 1]);
        if (st.ok())
          st = Exec("INSERT INTO schema_migrations (version) VALUES ($1)",
                    Params().Int(static_cast<int64_t>(v)));
      } else if (!applied.ok()) {
        st = applied.error();
      }
      if (!st.ok()) {
        (void)Exec("ROLLBACK", Params());
        return st.error().WithContext("schema migration " + std::to_string(v));
      }
      HENB_TRY(Exec("COMMIT", Params()));
    }
    for (int i = 1; i < connections; ++i) HENB_TRY(Connect(conninfo));
    return OkStatus();
  }

  std::string Backend() const override { return "postgres"; }
  bool Local() const override { return false; }

  Status PutDevice(const DeviceRecord& d, const std::optional<AuditEntry>& audit) override {
    return InTransaction<void>([&](PGconn* c) -> Status {
      HENB_TRY(QueryOn(c, kPutDevice, DeviceParams(d)));
      if (audit) HENB_TRY(WriteAudit(c, *audit));
      return OkStatus();
    });
  }

  static constexpr const char* kPutDevice =
      "INSERT INTO devices (device_id, hardware_model, ek_public, ek_certificate, ak_public, "
      "release_version, state, reset_count, clock, updated_at, release_id, agent_address, "
      "certificate_serial) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) "
      "ON CONFLICT (device_id) DO UPDATE SET hardware_model = EXCLUDED.hardware_model, "
      "ek_public = EXCLUDED.ek_public, ek_certificate = EXCLUDED.ek_certificate, "
      "ak_public = EXCLUDED.ak_public, release_version = EXCLUDED.release_version, "
      "state = EXCLUDED.state, reset_count = EXCLUDED.reset_count, clock = EXCLUDED.clock, "
      "updated_at = EXCLUDED.updated_at, release_id = EXCLUDED.release_id, "
      "agent_address = EXCLUDED.agent_address, "
      "certificate_serial = EXCLUDED.certificate_serial";

  static Params DeviceParams(const DeviceRecord& d) {
    return Params()
        .Text(d.device_id)
        .Text(d.hardware_model)
        .Blob(d.ek_public)
        .Blob(d.ek_certificate)
        .Blob(d.ak_public)
        .Text(d.release_version)
        .Text(d.state)
        .Int(d.reset_count)
        .Int(static_cast<int64_t>(d.clock))
        .Int(d.updated_at)
        .Text(d.release_id)
        .Text(d.agent_address)
        .Text(d.certificate_serial);
  }

  Result<std::optional<DeviceRecord>> GetDevice(const std::string& id) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        Query("SELECT device_id, hardware_model, ek_public, ek_certificate, ak_public, "
              "release_version, state, reset_count, clock, updated_at, release_id, agent_address, "
              "certificate_serial FROM devices WHERE device_id = $1",
              Params().Text(id)));
    if (PQntuples(r.get()) == 0) return std::optional<DeviceRecord>();
    PGresult* p = r.get();
    DeviceRecord d;
    d.device_id = Str(p, 0);
    d.hardware_model = Str(p, 1);
    d.ek_public = Blob(p, 2);
    d.ek_certificate = Blob(p, 3);
    d.ak_public = Blob(p, 4);
    d.release_version = Str(p, 5);
    d.state = Str(p, 6);
    d.reset_count = static_cast<uint32_t>(Int(p, 7));
    d.clock = static_cast<uint64_t>(Int(p, 8));
    d.updated_at = Int(p, 9);
    d.release_id = Str(p, 10);
    d.agent_address = Str(p, 11);
    d.certificate_serial = Str(p, 12);
    return std::optional<DeviceRecord>(std::move(d));
  }

  Status PutManifest(const ManifestRecord& m) override {
    return Exec(
        "INSERT INTO manifests (release_id, version, manifest, revoked_reason) VALUES "
        "($1,$2,$3,$4) "
        "ON CONFLICT (release_id, version) DO UPDATE SET manifest = EXCLUDED.manifest, "
        "revoked_reason = EXCLUDED.revoked_reason",
        Params().Text(m.release_id).Text(m.version).Blob(m.manifest).Text(m.revoked_reason));
  }

  Result<std::optional<ManifestRecord>> GetManifest(const std::string& release_id,
                                                    const std::string& version) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r, Query("SELECT release_id, version, manifest, revoked_reason FROM manifests "
                           "WHERE release_id = $1 AND version = $2",
                           Params().Text(release_id).Text(version)));
    if (PQntuples(r.get()) == 0) return std::optional<ManifestRecord>();
    PGresult* p = r.get();
    return std::optional<ManifestRecord>(
        ManifestRecord{Str(p, 0), Str(p, 1), Blob(p, 2), Str(p, 3)});
  }

  Status SetDeviceRelease(const std::string& device_id, const std::string& release_id,
                          const std::string& version, int64_t updated_at,
                          const std::optional<AuditEntry>& audit) override {
    return InTransaction<void>([&](PGconn* c) -> Status {
      HENB_ASSIGN_OR_RETURN(
          ResultPtr r,
          QueryOn(c,
                  "UPDATE devices SET release_id = $1, release_version = $2, "
                  "updated_at = $3 WHERE device_id = $4",
                  Params().Text(release_id).Text(version).Int(updated_at).Text(device_id)));
      if (std::string(PQcmdTuples(r.get())) == "0")
        return Error(ErrorCode::kNotFound, "no device " + device_id);
      if (audit) HENB_TRY(WriteAudit(c, *audit));
      return OkStatus();
    });
  }

  Status RevokeRelease(const std::string& release_id, const std::string& version,
                       const std::string& reason, const std::optional<AuditEntry>& audit) override {
    return InTransaction<void>([&](PGconn* c) -> Status {
      HENB_ASSIGN_OR_RETURN(
          ResultPtr r,
          QueryOn(
              c,
              "UPDATE manifests SET revoked_reason = $1 WHERE release_id = $2 AND "
              "version = $3",
              Params().Text(reason.empty() ? "revoked" : reason).Text(release_id).Text(version)));
      if (std::string(PQcmdTuples(r.get())) == "0")
        return Error(ErrorCode::kNotFound, "no release " + release_id + " " + version);
      if (audit) HENB_TRY(WriteAudit(c, *audit));
      return OkStatus();
    });
  }

  Result<bool> SpendNonce(ByteView nonce, int64_t expires_at) override {
    HENB_ASSIGN_OR_RETURN(ResultPtr r,
                          Query("INSERT INTO spent_nonces (nonce, expires_at) VALUES ($1,$2) "
                                "ON CONFLICT DO NOTHING",
                                Params().Blob(nonce).Int(expires_at)));
    return std::string(PQcmdTuples(r.get())) == "1";
  }

  Result<int64_t> PurgeSpentNonces(int64_t now) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r, Query("DELETE FROM spent_nonces WHERE expires_at < $1", Params().Int(now)));
    return std::stoll(PQcmdTuples(r.get()));
  }

  Status EnrollDevice(const DeviceRecord& d, const AuditEntry& audit) override {
    return InTransaction<void>([&](PGconn* c) -> Status {
      // A new id: inserted, unless another instance inserted it first; an
      // enrolled one: its row is locked for the checks and the update.
      HENB_ASSIGN_OR_RETURN(
          ResultPtr inserted,
          QueryOn(c,
                  "INSERT INTO devices (device_id, hardware_model, ek_public, ek_certificate, "
                  "ak_public, release_version, state, reset_count, clock, updated_at, "
                  "release_id, agent_address, certificate_serial) "
                  "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) "
                  "ON CONFLICT (device_id) DO NOTHING",
                  DeviceParams(d)));
      if (std::string(PQcmdTuples(inserted.get())) == "1") return WriteAudit(c, audit);
      HENB_ASSIGN_OR_RETURN(ResultPtr row,
                            QueryOn(c,
                                    "SELECT ek_public, state FROM devices WHERE device_id = $1 "
                                    "FOR UPDATE",
                                    Params().Text(d.device_id)));
      if (PQntuples(row.get()) == 0) {
        return Error(ErrorCode::kPolicyDeviceConflict,
                     "device " + d.device_id + " changed meanwhile; enroll again");
      }
      if (Blob(row.get(), 0) != d.ek_public) {
        return Error(ErrorCode::kPolicyDeviceConflict,
                     "device " + d.device_id + " is enrolled with another EK");
      }
      if (Str(row.get(), 1) == kDeviceRevoked) {
        return Error(ErrorCode::kPolicyEnrollment,
                     "device " + d.device_id + " was revoked; it may not enroll again");
      }
      // The TPM clock seen so far stays unless this one is later.
      HENB_TRY(QueryOn(
          c,
          "UPDATE devices SET hardware_model = $2, ek_certificate = $4, ak_public = $5, "
          "release_version = $6, state = $7, updated_at = $10, release_id = $11, "
          "agent_address = $12, certificate_serial = $13, "
          "clock = CASE WHEN ($8::bigint, $9::bigint) > (reset_count, clock) THEN $9 ELSE clock "
          "END, reset_count = GREATEST(reset_count, $8::bigint) "
          "WHERE device_id = $1 AND ek_public = $3",
          DeviceParams(d)));
      return WriteAudit(c, audit);
    });
  }

  Status RevokeDevice(const std::string& device_id, int64_t updated_at,
                      const AuditEntry& audit) override {
    return InTransaction<void>([&](PGconn* c) -> Status {
      HENB_ASSIGN_OR_RETURN(
          ResultPtr r,
          QueryOn(c,
                  "UPDATE devices SET state = $1, certificate_serial = $1, updated_at = $2 "
                  "WHERE device_id = $3",
                  Params().Text(kDeviceRevoked).Int(updated_at).Text(device_id)));
      if (std::string(PQcmdTuples(r.get())) == "0")
        return Error(ErrorCode::kNotFound, "no device " + device_id);
      return WriteAudit(c, audit);
    });
  }

  Result<int64_t> RecordAppraisal(const AppraisalRecord& a) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        Query("WITH n AS (INSERT INTO spent_nonces (nonce, expires_at) SELECT $8::bytea, "
              "$9::bigint WHERE octet_length($8::bytea) > 0 ON CONFLICT DO NOTHING RETURNING 1), "
              "ok AS (SELECT 1 WHERE octet_length($8::bytea) = 0 OR EXISTS (SELECT 1 FROM n)), "
              "a AS (INSERT INTO appraisals (device_id, status, result, created_at) "
              "SELECT $1::text, $2::text, $3::text, $4::bigint FROM ok RETURNING id), "
              "u AS (UPDATE devices SET reset_count = $6::bigint, clock = $7::bigint "
              "WHERE $5::boolean AND EXISTS (SELECT 1 FROM ok) AND device_id = $1::text AND "
              "(reset_count < $6::bigint OR (reset_count = $6::bigint AND clock < $7::bigint))) "
              "SELECT id FROM a",
              Params()
                  .Text(a.device_id)
                  .Text(a.status)
                  .Text(a.result)
                  .Int(a.created_at)
                  .Text(a.advance_clock ? "true" : "false")
                  .Int(a.reset_count)
                  .Int(static_cast<int64_t>(a.clock))
                  .Blob(a.spent_nonce)
                  .Int(a.nonce_expires_at)));
    if (PQntuples(r.get()) == 0) return Error(ErrorCode::kPolicyNonce, "nonce already used");
    return Int(r.get(), 0);
  }

  Result<std::optional<AppraisalRecord>> LatestAppraisal(const std::string& device_id) override {
    HENB_ASSIGN_OR_RETURN(ResultPtr r,
                          Query("SELECT id, device_id, status, result, created_at FROM appraisals "
                                "WHERE device_id = $1 ORDER BY id DESC LIMIT 1",
                                Params().Text(device_id)));
    if (PQntuples(r.get()) == 0) return std::optional<AppraisalRecord>();
    PGresult* p = r.get();
    return std::optional<AppraisalRecord>(
        AppraisalRecord{Int(p, 0), Str(p, 1), Str(p, 2), Str(p, 3), Int(p, 4)});
  }

  Result<std::vector<DeviceRecord>> ListDevices(const std::string& after, int limit) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        Query("SELECT device_id FROM devices WHERE device_id > $1 ORDER BY device_id LIMIT $2",
              Params().Text(after).Int(limit)));
    std::vector<DeviceRecord> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      HENB_ASSIGN_OR_RETURN(auto d, GetDevice(Str(r.get(), 0, i)));
      if (d) out.push_back(std::move(*d));
    }
    return out;
  }

  Result<int64_t> CreateJob(const UpdateJob& job, const AuditEntry& audit) override {
    return InTransaction<int64_t>([&](PGconn* c) -> Result<int64_t> {
      HENB_ASSIGN_OR_RETURN(
          ResultPtr r,
          QueryOn(c,
                  "INSERT INTO jobs (device_id, release_id, version, from_release_id, "
                  "from_version, state, open, expected_tim, order_nonce, order_token, deadline, "
                  "attempts, next_action_at, report, detail, created_at, updated_at) VALUES "
                  "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17) "
                  "ON CONFLICT (device_id) WHERE open DO NOTHING RETURNING id",
                  JobParams(job)));
      if (PQntuples(r.get()) == 0) {
        return Error(ErrorCode::kPolicyJobConflict,
                     "device " + job.device_id + " already has an open job");
      }
      const int64_t id = Int(r.get(), 0);
      AuditEntry a = audit;
      if (a.subject.empty()) a.subject = "job:" + std::to_string(id);
      HENB_TRY(WriteAudit(c, a));
      return id;
    });
  }

  Result<std::optional<UpdateJob>> GetJob(int64_t id) override {
    return OneJob("SELECT " HENB_JOB_COLUMNS " FROM jobs WHERE id = $1", Params().Int(id));
  }

  Result<std::optional<UpdateJob>> OpenJobFor(const std::string& device_id) override {
    return OneJob("SELECT " HENB_JOB_COLUMNS " FROM jobs WHERE device_id = $1 AND open",
                  Params().Text(device_id));
  }

  Result<bool> TransitionJob(const UpdateJob& job, JobState from_state,
                             const std::optional<AuditEntry>& audit) override {
    return InTransaction<bool>([&](PGconn* c) -> Result<bool> {
      HENB_ASSIGN_OR_RETURN(
          ResultPtr r,
          QueryOn(c,
                  "UPDATE jobs SET device_id = $1, release_id = $2, version = $3, "
                  "from_release_id = $4, from_version = $5, state = $6, open = $7, "
                  "expected_tim = $8, order_nonce = $9, order_token = $10, deadline = $11, "
                  "attempts = $12, next_action_at = $13, report = $14, detail = $15, "
                  "created_at = $16, updated_at = $17 WHERE id = $18 AND state = $19",
                  JobParams(job).Int(job.id).Text(std::string(JobStateName(from_state)))));
      if (std::string(PQcmdTuples(r.get())) == "0") return false;
      if (audit) HENB_TRY(WriteAudit(c, *audit));
      return true;
    });
  }

  Result<std::vector<UpdateJob>> ListJobs(bool open_only, int64_t due_by, int limit) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r, open_only ? Query("SELECT " HENB_JOB_COLUMNS " FROM jobs WHERE open AND "
                                       "next_action_at <= $1 ORDER BY next_action_at, id LIMIT $2",
                                       Params().Int(due_by).Int(limit))
                               : Query("SELECT " HENB_JOB_COLUMNS " FROM jobs ORDER BY id LIMIT $1",
                                       Params().Int(limit)));
    std::vector<UpdateJob> out;
    for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(ReadJob(r.get(), i));
    return out;
  }

  Status AppendAudit(const AuditEntry& entry) override {
    auto written = InTransaction<bool>([&](PGconn* c) -> Result<bool> {
      HENB_TRY(WriteAudit(c, entry));
      return true;
    });
    if (!written.ok()) return written.error();
    return OkStatus();
  }

  Result<std::vector<AuditEntry>> ListAudit(int64_t after_seq, int limit) override {
    HENB_ASSIGN_OR_RETURN(ResultPtr r,
                          Query("SELECT seq, at, actor, subject, event, detail, prev_hash, hash "
                                "FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                                Params().Int(after_seq).Int(limit)));
    std::vector<AuditEntry> out;
    PGresult* p = r.get();
    for (int i = 0; i < PQntuples(p); ++i) {
      out.push_back(AuditEntry{Int(p, 0, i), Int(p, 1, i), Str(p, 2, i), Str(p, 3, i), Str(p, 4, i),
                               Str(p, 5, i), Blob(p, 6, i), Blob(p, 7, i)});
    }
    return out;
  }

 private:
  static Params JobParams(const UpdateJob& j) {
    Params p;
    p.Text(j.device_id).Text(j.release_id).Text(j.version).Text(j.from_release_id);
    p.Text(j.from_version)
        .Text(std::string(JobStateName(j.state)))
        .Text(j.open ? "true" : "false")
        .Blob(j.expected_tim);
    p.Blob(j.order_nonce).Text(j.order).Int(j.deadline).Int(j.attempts).Int(j.next_action_at);
    p.Text(j.report).Text(j.detail).Int(j.created_at).Int(j.updated_at);
    return p;
  }
  static UpdateJob ReadJob(PGresult* p, int row) {
    UpdateJob j;
    j.id = Int(p, 0, row);
    j.device_id = Str(p, 1, row);
    j.release_id = Str(p, 2, row);
    j.version = Str(p, 3, row);
    j.from_release_id = Str(p, 4, row);
    j.from_version = Str(p, 5, row);
    // A state this version does not know is read as closed: nothing acts on it.
    j.state = ParseJobState(Str(p, 6, row)).value_or(JobState::kFailed);
    j.open = Str(p, 7, row) == "t";
    j.expected_tim = Blob(p, 8, row);
    j.order_nonce = Blob(p, 9, row);
    j.order = Str(p, 10, row);
    j.deadline = Int(p, 11, row);
    j.attempts = static_cast<int>(Int(p, 12, row));
    j.next_action_at = Int(p, 13, row);
    j.report = Str(p, 14, row);
    j.detail = Str(p, 15, row);
    j.created_at = Int(p, 16, row);
    j.updated_at = Int(p, 17, row);
    return j;
  }
  Result<std::optional<UpdateJob>> OneJob(const char* sql, const Params& params) {
    HENB_ASSIGN_OR_RETURN(ResultPtr r, Query(sql, params));
    if (PQntuples(r.get()) == 0) return std::optional<UpdateJob>();
    return std::optional<UpdateJob>(ReadJob(r.get(), 0));
  }

  // REQUIRES: in a transaction on `c`. The advisory lock, held to the end
  // of the transaction, makes appends from every instance form one chain.
  Status WriteAudit(PGconn* c, const AuditEntry& entry) {
    HENB_TRY(QueryOn(c, "SELECT pg_advisory_xact_lock($1)", Params().Int(kAuditLock)));
    HENB_ASSIGN_OR_RETURN(
        ResultPtr last,
        QueryOn(c, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", Params()));
    AuditEntry e = entry;
    e.seq = 1;
    e.prev_hash = Bytes(32, 0);
    if (PQntuples(last.get()) == 1) {
      e.seq = Int(last.get(), 0) + 1;
      e.prev_hash = Blob(last.get(), 1);
    }
    e.hash = AuditHash(e.prev_hash, e);
    HENB_TRY(QueryOn(c,
                     "INSERT INTO audit (seq, at, actor, subject, event, detail, prev_hash, hash) "
                     "VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                     Params()
                         .Int(e.seq)
                         .Int(e.at)
                         .Text(e.actor)
                         .Text(e.subject)
                         .Text(e.event)
                         .Text(e.detail)
                         .Blob(e.prev_hash)
                         .Blob(e.hash)));
    return OkStatus();
  }

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

  static std::string Str(PGresult* r, int col, int row = 0) {
    return std::string(PQgetvalue(r, row, col), PQgetlength(r, row, col));
  }
  static int64_t Int(PGresult* r, int col, int row = 0) {
    return std::stoll(PQgetvalue(r, row, col));
  }
  static Bytes Blob(PGresult* r, int col, int row = 0) {
    size_t len = 0;
    unsigned char* raw =
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col)), &len);
    Bytes out(raw, raw + len);
    PQfreemem(raw);
    return out;
  }

  // A connection from the pool for one statement; a broken one is reset.
  class Lease {
   public:
    explicit Lease(PostgresStore* s) : s_(s) {
      std::unique_lock<std::mutex> lock(s_->mu_);
      s_->cv_.wait(lock, [this] { return !s_->free_.empty(); });
      conn_ = s_->free_.back();
      s_->free_.pop_back();
    }
    ~Lease() {
      if (PQstatus(conn_) == CONNECTION_BAD) {
        PQreset(conn_);
        s_->prepared_.at(conn_).clear();  // a new session has none
      }
      std::lock_guard<std::mutex> lock(s_->mu_);
      s_->free_.push_back(conn_);
      s_->cv_.notify_one();
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    PGconn* get() const { return conn_; }

   private:
    PostgresStore* s_;
    PGconn* conn_;
  };

  Result<ResultPtr> Query(const char* sql, const Params& p) {
    Lease conn(this);
    return QueryOn(conn.get(), sql, p);
  }
  // A statement with parameters is prepared once per connection (the
  // server parses and plans it once) and executed by name after that.
  // REQUIRES: `conn` leased by the caller.
  Result<ResultPtr> QueryOn(PGconn* conn, const char* sql, const Params& p) {
    const auto values = p.values();
    const auto lengths = p.lengths();
    PGresult* raw = nullptr;
    if (p.count() == 0) {
      raw = PQexecParams(conn, sql, 0, nullptr, nullptr, nullptr, nullptr, 0);
    } else {
      auto& mine = prepared_.at(conn);
      auto it = mine.find(sql);
      if (it == mine.end()) {
        std::string name = "henb_" + std::to_string(mine.size());
        ResultPtr prepared(PQprepare(conn, name.c_str(), sql, p.count(), nullptr), PQclear);
        if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
          return Error(ErrorCode::kStore,
                       std::string("PostgreSQL: ") + PQresultErrorMessage(prepared.get()));
        }
        it = mine.emplace(sql, std::move(name)).first;
      }
      raw = PQexecPrepared(conn, it->second.c_str(), p.count(), values.data(), lengths.data(),
                           p.formats().data(), 0);
    }
    ResultPtr r(raw, PQclear);
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return Error(ErrorCode::kStore, std::string("PostgreSQL: ") + PQresultErrorMessage(r.get()));
    }
    return r;
  }
  // Several statements at once (the simple query protocol); no parameters.
  Status ExecScript(const char* sql) {
    Lease conn(this);
    ResultPtr r(PQexec(conn.get(), sql), PQclear);
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      return Error(ErrorCode::kStore, std::string("PostgreSQL: ") + PQresultErrorMessage(r.get()));
    }
    return OkStatus();
  }
  Status Exec(const char* sql, const Params& p) {
    HENB_TRY(Query(sql, p));
    return OkStatus();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PGconn*> all_;   // owned
  std::vector<PGconn*> free_;  // guarded by mu_
  // The statements prepared on each connection, by SQL text (every statement
  // is a literal); the map is complete after Open, and each inner map is
  // touched only by the holder of that connection's lease.
  std::unordered_map<PGconn*, std::unordered_map<const char*, std::string>> prepared_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo, int connections) {
  if (connections < 1) return Error(ErrorCode::kInvalidArgument, "connections must be >= 1");
  auto store = std::make_unique<PostgresStore>();
  HENB_TRY(store->Open(conninfo, connections));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace henbtrust
