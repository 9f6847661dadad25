#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <iterator>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "henbtrust/store/store.h"

namespace henbtrust {

namespace {

// Versioned schema; each entry is applied once, in order, in one transaction.
const char* const kMigrations[] = {
    R"(CREATE TABLE devices (
         device_id TEXT PRIMARY KEY, hardware_model TEXT NOT NULL, ek_public BLOB NOT NULL,
         ek_certificate BLOB NOT NULL, ak_public BLOB NOT NULL, release_version TEXT NOT NULL,
         state TEXT NOT NULL, reset_count INTEGER NOT NULL, clock INTEGER NOT NULL, updated_at INTEGER NOT NULL);
       CREATE TABLE manifests (
         release_id TEXT NOT NULL, version TEXT NOT NULL, manifest BLOB NOT NULL,
         revoked_reason TEXT NOT NULL DEFAULT '', PRIMARY KEY (release_id, version));
       CREATE TABLE nonces (nonce BLOB PRIMARY KEY, device_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
       CREATE INDEX nonces_expiry ON nonces (expires_at);
       CREATE TABLE appraisals (
         id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, status TEXT NOT NULL,
         result TEXT NOT NULL, created_at INTEGER NOT NULL);
       CREATE INDEX appraisals_device ON appraisals (device_id, id);)",
    R"(ALTER TABLE devices ADD COLUMN release_id TEXT NOT NULL DEFAULT '';
       ALTER TABLE devices ADD COLUMN agent_address TEXT NOT NULL DEFAULT '';
       CREATE TABLE enrollments (
         device_id TEXT PRIMARY KEY, secret_digest BLOB NOT NULL, request TEXT NOT NULL,
         expires_at INTEGER NOT NULL);)",
    R"(DROP TABLE nonces;
       CREATE TABLE spent_nonces (nonce BLOB PRIMARY KEY, expires_at INTEGER NOT NULL);
       CREATE INDEX spent_nonces_expiry ON spent_nonces (expires_at);)",
    R"(CREATE TABLE jobs (
         id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, release_id TEXT NOT NULL,
         version TEXT NOT NULL, from_release_id TEXT NOT NULL, from_version TEXT NOT NULL,
         state TEXT NOT NULL, open INTEGER NOT NULL, expected_tim BLOB NOT NULL,
         order_nonce BLOB NOT NULL, order_token TEXT NOT NULL, deadline INTEGER NOT NULL,
         attempts INTEGER NOT NULL, next_action_at INTEGER NOT NULL, report TEXT NOT NULL,
         detail TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
       CREATE UNIQUE INDEX jobs_open_device ON jobs (device_id) WHERE open = 1;
       CREATE INDEX jobs_due ON jobs (open, next_action_at);
       CREATE TABLE audit (
         seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, subject TEXT NOT NULL,
         event TEXT NOT NULL, detail TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL);)",
    // What every appraisal writes per device (its TPM clock, its latest
    // result) in a narrow table of its own: a batch of records then shares
    // its few pages, instead of each record rewriting a page of the wide
    // devices table and one of an index over all appraisals.
    R"(CREATE TABLE device_state (
         device_id TEXT PRIMARY KEY, reset_count INTEGER NOT NULL, clock INTEGER NOT NULL,
         latest_appraisal INTEGER NOT NULL) WITHOUT ROWID;
       INSERT INTO device_state (device_id, reset_count, clock, latest_appraisal)
         SELECT d.device_id, d.reset_count, d.clock, COALESCE(MAX(a.id), 0)
         FROM devices d LEFT JOIN appraisals a ON a.device_id = d.device_id GROUP BY d.device_id;
       INSERT OR IGNORE INTO device_state (device_id, reset_count, clock, latest_appraisal)
         SELECT device_id, 0, 0, MAX(id) FROM appraisals GROUP BY device_id;
       ALTER TABLE devices DROP COLUMN reset_count;
       ALTER TABLE devices DROP COLUMN clock;
       DROP INDEX appraisals_device;)",
    // Spent nonces keyed by (expiry, nonce) in one B-tree: nonces begin
    // with their expiry, so a record's insert lands at the tree's end
    // instead of at a random page of a nonce index and of an expiry index;
    // the purge deletes a prefix. A nonce always comes with the same expiry,
    // so the pair is unique exactly when the nonce is.
    R"(CREATE TABLE spent_nonces_by_expiry (
         expires_at INTEGER NOT NULL, nonce BLOB NOT NULL,
         PRIMARY KEY (expires_at, nonce)) WITHOUT ROWID;
       INSERT INTO spent_nonces_by_expiry (expires_at, nonce)
         SELECT expires_at, nonce FROM spent_nonces;
       DROP TABLE spent_nonces;
       ALTER TABLE spent_nonces_by_expiry RENAME TO spent_nonces;)",
    // The one valid device certificate per device. Pending enrollments are
    // no longer stored (the device keeps a sealed token of its challenge).
    R"(ALTER TABLE devices ADD COLUMN certificate_serial TEXT NOT NULL DEFAULT '';
       DROP TABLE IF EXISTS enrollments;)",
};

// Prepared statements, kept for the connection's life; keyed by the SQL
// literal's address (every statement is a literal). Guarded by the store's mutex.
class StatementCache {
 public:
  ~StatementCache() {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
  }
  sqlite3_stmt* Get(sqlite3* db, const char* sql, int* rc) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) {
      *rc = SQLITE_OK;
      return it->second;
    }
    sqlite3_stmt* stmt = nullptr;
    *rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (*rc == SQLITE_OK) stmts_.emplace(sql, stmt);
    return stmt;
  }

 private:
  std::unordered_map<const char*, sqlite3_stmt*> stmts_;
};

// One use of a cached statement: bound, stepped, then reset.
class Stmt {
 public:
  Stmt(StatementCache& cache, sqlite3* db, const char* sql) : stmt_(cache.Get(db, sql, &rc_)) {}
  ~Stmt() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Text(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Blob(int i, ByteView b) {
    // An empty span may have a null data pointer, which SQLite would bind as NULL.
    static const uint8_t kEmpty = 0;
    sqlite3_bind_blob(stmt_, i, b.empty() ? &kEmpty : b.data(), static_cast<int>(b.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(stmt_); }
  std::string ColText(int i) {
    const auto* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
             : std::string();
  }
  Bytes ColBlob(int i) {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, i));
    return p ? Bytes(p, p + sqlite3_column_bytes(stmt_, i)) : Bytes();
  }
  int64_t ColInt(int i) { return sqlite3_column_int64(stmt_, i); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

UpdateJob ReadJob(Stmt& s) {
  UpdateJob j;
  j.id = s.ColInt(0);
  j.device_id = s.ColText(1);
  j.release_id = s.ColText(2);
  j.version = s.ColText(3);
  j.from_release_id = s.ColText(4);
  j.from_version = s.ColText(5);
  // A state this version does not know is read as closed: nothing acts on it.
  j.state = ParseJobState(s.ColText(6)).value_or(JobState::kFailed);
  j.open = s.ColInt(7) != 0;
  j.expected_tim = s.ColBlob(8);
  j.order_nonce = s.ColBlob(9);
  j.order = s.ColText(10);
  j.deadline = s.ColInt(11);
  j.attempts = static_cast<int>(s.ColInt(12));
  j.next_action_at = s.ColInt(13);
  j.report = s.ColText(14);
  j.detail = s.ColText(15);
  j.created_at = s.ColInt(16);
  j.updated_at = s.ColInt(17);
  return j;
}

// Binds every field but the id, from parameter 1 on, in kJobColumns order.
void BindJob(Stmt& s, const UpdateJob& j) {
  s.Text(1, j.device_id).Text(2, j.release_id).Text(3, j.version).Text(4, j.from_release_id);
  s.Text(5, j.from_version)
      .Text(6, std::string(JobStateName(j.state)))
      .Int(7, j.open ? 1 : 0)
      .Blob(8, j.expected_tim);
  s.Blob(9, j.order_nonce).Text(10, j.order).Int(11, j.deadline).Int(12, j.attempts);
  s.Int(13, j.next_action_at).Text(14, j.report).Text(15, j.detail).Int(16, j.created_at);
  s.Int(17, j.updated_at);
}

class SqliteStore final : public Store {
 public:
  // sqlite3_close_v2 lets the statement cache finalize its statements afterwards.
  ~SqliteStore() override {
    {
      std::lock_guard<std::mutex> q(queue_mu_);
      closing_ = true;
    }
    queue_cv_.notify_one();
    if (writer_.joinable()) writer_.join();
    for (auto& r : readers_) sqlite3_close_v2(r->db);
    sqlite3_close_v2(db_);
  }

  Status Open(const std::string& path) {
    if (sqlite3_open_v2(
            path.c_str(), &db_,
            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,  // mu_ serialises
            nullptr) != SQLITE_OK) {
      return Error(ErrorCode::kStore,
                   "cannot open SQLite database " + path + ": " + sqlite3_errmsg(db_));
    }
    sqlite3_busy_timeout(db_, 5000);
    // synchronous=FULL: in WAL mode, each commit is on disk before it is
    // answered (NORMAL would lose the last commits on power loss).
    HENB_TRY(Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
    HENB_TRY(Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)"));
    for (size_t v = 1; v <= std::size(kMigrations); ++v) {
      Stmt q(cache_, db_, "SELECT 1 FROM schema_migrations WHERE version = ?");
      q.Int(1, static_cast<int64_t>(v));
      if (q.Step() == SQLITE_ROW) continue;
      HENB_TRY(Exec("BEGIN IMMEDIATE"));
      Status st = Exec(kMigrations[v - 1]);
      if (st.ok())
        st = Exec("INSERT INTO schema_migrations (version) VALUES (" + std::to_string(v) + ")");
      if (!st.ok()) {
        (void)Exec("ROLLBACK");
        return st.error().WithContext("schema migration " + std::to_string(v));
      }
      HENB_TRY(Exec("COMMIT"));
    }
    // Reads go to their own connections: in WAL mode they proceed while the
    // writer commits.
    for (int i = 0; i < kReaders; ++i) {
      auto r = std::make_unique<Reader>();
      if (sqlite3_open_v2(path.c_str(), &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                          nullptr) != SQLITE_OK) {
        const std::string why = sqlite3_errmsg(r->db);
        sqlite3_close_v2(r->db);
        return Error(ErrorCode::kStore, "cannot open SQLite database " + path + ": " + why);
      }
      sqlite3_busy_timeout(r->db, 5000);
      readers_.push_back(std::move(r));
    }
    std::lock_guard<std::mutex> lock(mu_);
    NoteCommitsOfOthers();
    return OkStatus();
  }

  std::string Backend() const override { return "sqlite"; }
  bool Local() const override { return true; }

  Status PutDevice(const DeviceRecord& d, const std::optional<AuditEntry>& audit) override {
    std::lock_guard<std::mutex> lock(mu_);
    const ForgetDevicesAfter forget{this};
    return InTransaction<void>([&]() -> Status {
      HENB_TRY(WriteDeviceRow(d));
      if (audit) HENB_TRY(WriteAudit(*audit));
      Stmt s(cache_, db_,
             "INSERT INTO device_state (device_id, reset_count, clock, latest_appraisal) "
             "VALUES (?1, ?2, ?3, 0) ON CONFLICT (device_id) DO UPDATE SET "
             "reset_count = excluded.reset_count, clock = excluded.clock");
      s.Text(1, d.device_id).Int(2, d.reset_count).Int(3, static_cast<int64_t>(d.clock));
      return Done(s, "store device state");
    });
  }

  Result<std::optional<DeviceRecord>> GetDevice(const std::string& id) override {
    if (SteadyMs() - others_checked_ms_.load(std::memory_order_relaxed) > kOthersCheckMs) {
      std::lock_guard<std::mutex> lock(mu_);
      NoteCommitsOfOthers();
    }
    uint64_t generation = 0, clock_epoch = 0;
    {
      std::lock_guard<std::mutex> lock(devices_.mu);
      auto it = devices_.records.find(id);
      if (it != devices_.records.end()) return std::optional<DeviceRecord>(it->second);
      generation = devices_.generation;
      clock_epoch = devices_.clock_epoch;
    }
    HENB_ASSIGN_OR_RETURN(auto device, ReadDevice(id));
    std::lock_guard<std::mutex> lock(devices_.mu);
    // Kept only if nothing was committed since the read began, which the
    // record might then not show.
    if (device && generation == devices_.generation && clock_epoch == devices_.clock_epoch) {
      if (devices_.records.size() >= kCachedDevices)
        devices_.records.erase(devices_.records.begin());
      devices_.records.try_emplace(id, *device);
    }
    return device;
  }

  Status PutManifest(const ManifestRecord& m) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(cache_, db_,
           "INSERT OR REPLACE INTO manifests (release_id, version, manifest, revoked_reason) "
           "VALUES (?,?,?,?)");
    s.Text(1, m.release_id).Text(2, m.version).Blob(3, m.manifest).Text(4, m.revoked_reason);
    return Done(s, "store manifest");
  }

  Result<std::optional<ManifestRecord>> GetManifest(const std::string& release_id,
                                                    const std::string& version) override {
    Reader& r = NextReader();
    std::lock_guard<std::mutex> lock(r.mu);
    Stmt s(r.cache, r.db,
           "SELECT release_id, version, manifest, revoked_reason FROM manifests WHERE release_id = "
           "? AND version = ?");
    s.Text(1, release_id).Text(2, version);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return std::optional<ManifestRecord>();
    if (rc != SQLITE_ROW) return Fail("read manifest", r.db);
    return std::optional<ManifestRecord>(
        ManifestRecord{s.ColText(0), s.ColText(1), s.ColBlob(2), s.ColText(3)});
  }

  Status SetDeviceRelease(const std::string& device_id, const std::string& release_id,
                          const std::string& version, int64_t updated_at,
                          const std::optional<AuditEntry>& audit) override {
    std::lock_guard<std::mutex> lock(mu_);
    const ForgetDevicesAfter forget{this};
    return InTransaction<void>([&]() -> Status {
      Stmt s(cache_, db_,
             "UPDATE devices SET release_id = ?, release_version = ?, updated_at = ? "
             "WHERE device_id = ?");
      s.Text(1, release_id).Text(2, version).Int(3, updated_at).Text(4, device_id);
      HENB_TRY(Done(s, "set device release"));
      if (sqlite3_changes(db_) == 0) return Error(ErrorCode::kNotFound, "no device " + device_id);
      if (audit) HENB_TRY(WriteAudit(*audit));
      return OkStatus();
    });
  }

  Status RevokeRelease(const std::string& release_id, const std::string& version,
                       const std::string& reason, const std::optional<AuditEntry>& audit) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction<void>([&]() -> Status {
      Stmt s(cache_, db_,
             "UPDATE manifests SET revoked_reason = ? WHERE release_id = ? AND version = ?");
      s.Text(1, reason.empty() ? "revoked" : reason).Text(2, release_id).Text(3, version);
      HENB_TRY(Done(s, "revoke release"));
      if (sqlite3_changes(db_) == 0) {
        return Error(ErrorCode::kNotFound, "no release " + release_id + " " + version);
      }
      if (audit) HENB_TRY(WriteAudit(*audit));
      return OkStatus();
    });
  }

  Result<bool> SpendNonce(ByteView nonce, int64_t expires_at) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Spend(nonce, expires_at);
  }

  Result<int64_t> PurgeSpentNonces(int64_t now) override {
    std::lock_guard<std::mutex> lock(mu_);
    Stmt s(cache_, db_, "DELETE FROM spent_nonces WHERE expires_at < ?");
    s.Int(1, now);
    HENB_TRY(Done(s, "purge nonces"));
    return static_cast<int64_t>(sqlite3_changes(db_));
  }

  Status EnrollDevice(const DeviceRecord& d, const AuditEntry& audit) override {
    std::lock_guard<std::mutex> lock(mu_);
    const ForgetDevicesAfter forget{this};
    return InTransaction<void>([&]() -> Status {
      {
        Stmt q(cache_, db_, "SELECT ek_public, state FROM devices WHERE device_id = ?");
        q.Text(1, d.device_id);
        const int rc = q.Step();
        if (rc == SQLITE_ROW) {
          if (q.ColBlob(0) != d.ek_public) {
            return Error(ErrorCode::kPolicyDeviceConflict,
                         "device " + d.device_id + " is enrolled with another EK");
          }
          if (q.ColText(1) == kDeviceRevoked) {
            return Error(ErrorCode::kPolicyEnrollment,
                         "device " + d.device_id + " was revoked; it may not enroll again");
          }
        } else if (rc != SQLITE_DONE) {
          return Fail("read device");
        }
      }
      HENB_TRY(WriteDeviceRow(d));
      {
        // The TPM clock seen so far stays unless this one is later.
        Stmt s(cache_, db_,
               "INSERT INTO device_state (device_id, reset_count, clock, latest_appraisal) "
               "VALUES (?1, ?2, ?3, 0) ON CONFLICT (device_id) DO UPDATE SET "
               "reset_count = excluded.reset_count, clock = excluded.clock "
               "WHERE excluded.reset_count > reset_count OR "
               "(excluded.reset_count = reset_count AND excluded.clock > clock)");
        s.Text(1, d.device_id).Int(2, d.reset_count).Int(3, static_cast<int64_t>(d.clock));
        HENB_TRY(Done(s, "enroll device state"));
      }
      return WriteAudit(audit);
    });
  }

  Status RevokeDevice(const std::string& device_id, int64_t updated_at,
                      const AuditEntry& audit) override {
    std::lock_guard<std::mutex> lock(mu_);
    const ForgetDevicesAfter forget{this};
    return InTransaction<void>([&]() -> Status {
      Stmt s(cache_, db_,
             "UPDATE devices SET state = ?, certificate_serial = ?, updated_at = ? "
             "WHERE device_id = ?");
      s.Text(1, kDeviceRevoked).Text(2, kDeviceRevoked).Int(3, updated_at).Text(4, device_id);
      HENB_TRY(Done(s, "revoke device"));
      if (sqlite3_changes(db_) == 0) return Error(ErrorCode::kNotFound, "no device " + device_id);
      return WriteAudit(audit);
    });
  }

  // Group commit: records queue for one writer thread, which writes
  // everything queued in one transaction and then answers each. A record
  // whose nonce was spent before writes nothing, so that it refuses only
  // itself; any other failure fails the whole batch, and nothing of it stays.
  Result<int64_t> RecordAppraisal(const AppraisalRecord& a) override {
    std::promise<Result<int64_t>> answer;
    auto result = answer.get_future();
    RecordAppraisalAsync(a, [&answer](Result<int64_t> r) { answer.set_value(std::move(r)); });
    return result.get();
  }

  void RecordAppraisalAsync(AppraisalRecord a, AppraisalDone done) override {
    bool wake = false;
    {
      std::lock_guard<std::mutex> q(queue_mu_);
      if (!writer_.joinable()) writer_ = std::thread([this] { WriteQueued(); });
      queue_.push_back({std::move(a), std::move(done)});
      // While the writer gathers, it is woken only by a full batch.
      wake = !gathering_ || queue_.size() >= kGatherTarget;
    }
    if (wake) queue_cv_.notify_one();
  }

  Result<std::optional<AppraisalRecord>> LatestAppraisal(const std::string& device_id) override {
    Reader& r = NextReader();
    std::lock_guard<std::mutex> lock(r.mu);
    Stmt s(r.cache, r.db,
           "SELECT a.id, a.device_id, a.status, a.result, a.created_at FROM device_state s "
           "JOIN appraisals a ON a.id = s.latest_appraisal WHERE s.device_id = ?");
    s.Text(1, device_id);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return std::optional<AppraisalRecord>();
    if (rc != SQLITE_ROW) return Fail("read appraisal", r.db);
    return std::optional<AppraisalRecord>(
        AppraisalRecord{s.ColInt(0), s.ColText(1), s.ColText(2), s.ColText(3), s.ColInt(4)});
  }

  Result<std::vector<DeviceRecord>> ListDevices(const std::string& after, int limit) override {
    std::vector<std::string> ids;
    {
      Reader& r = NextReader();
      std::lock_guard<std::mutex> lock(r.mu);
      Stmt s(r.cache, r.db,
             "SELECT device_id FROM devices WHERE device_id > ? ORDER BY device_id LIMIT ?");
      s.Text(1, after).Int(2, limit);
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) ids.push_back(s.ColText(0));
      if (rc != SQLITE_DONE) return Fail("list devices", r.db);
    }
    std::vector<DeviceRecord> out;
    for (const auto& id : ids) {
      HENB_ASSIGN_OR_RETURN(auto d, GetDevice(id));
      if (d) out.push_back(std::move(*d));
    }
    return out;
  }

  Result<int64_t> CreateJob(const UpdateJob& job, const AuditEntry& audit) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction<int64_t>([&]() -> Result<int64_t> {
      {
        Stmt q(cache_, db_, "SELECT id FROM jobs WHERE device_id = ? AND open = 1");
        q.Text(1, job.device_id);
        if (q.Step() == SQLITE_ROW) {
          return Error(
              ErrorCode::kPolicyJobConflict,
              "device " + job.device_id + " already has open job " + std::to_string(q.ColInt(0)));
        }
      }
      Stmt s(cache_, db_,
             "INSERT INTO jobs (device_id, release_id, version, from_release_id, from_version, "
             "state, open, expected_tim, order_nonce, order_token, deadline, attempts, "
             "next_action_at, report, detail, created_at, updated_at) "
             "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
      BindJob(s, job);
      HENB_TRY(Done(s, "create job"));
      const auto id = static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
      AuditEntry a = audit;
      if (a.subject.empty()) a.subject = "job:" + std::to_string(id);
      HENB_TRY(WriteAudit(a));
      return id;
    });
  }

  Result<std::optional<UpdateJob>> GetJob(int64_t id) override {
    return OneJob(
        "SELECT id, device_id, release_id, version, from_release_id, from_version, "
        "state, open, expected_tim, order_nonce, order_token, deadline, attempts, "
        "next_action_at, report, detail, created_at, updated_at FROM jobs WHERE id = ?",
        [&](Stmt& s) { s.Int(1, id); });
  }

  Result<std::optional<UpdateJob>> OpenJobFor(const std::string& device_id) override {
    return OneJob(
        "SELECT id, device_id, release_id, version, from_release_id, from_version, "
        "state, open, expected_tim, order_nonce, order_token, deadline, attempts, "
        "next_action_at, report, detail, created_at, updated_at FROM jobs "
        "WHERE device_id = ? AND open = 1",
        [&](Stmt& s) { s.Text(1, device_id); });
  }

  Result<bool> TransitionJob(const UpdateJob& job, JobState from_state,
                             const std::optional<AuditEntry>& audit) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction<bool>([&]() -> Result<bool> {
      Stmt s(cache_, db_,
             "UPDATE jobs SET device_id = ?1, release_id = ?2, version = ?3, "
             "from_release_id = ?4, from_version = ?5, state = ?6, open = ?7, expected_tim = ?8, "
             "order_nonce = ?9, order_token = ?10, deadline = ?11, attempts = ?12, "
             "next_action_at = ?13, report = ?14, detail = ?15, created_at = ?16, "
             "updated_at = ?17 WHERE id = ?18 AND state = ?19");
      BindJob(s, job);
      s.Int(18, job.id).Text(19, std::string(JobStateName(from_state)));
      HENB_TRY(Done(s, "update job"));
      if (sqlite3_changes(db_) == 0) return false;
      if (audit) HENB_TRY(WriteAudit(*audit));
      return true;
    });
  }

  Result<std::vector<UpdateJob>> ListJobs(bool open_only, int64_t due_by, int limit) override {
    Reader& r = NextReader();
    std::lock_guard<std::mutex> lock(r.mu);
    Stmt s(r.cache, r.db,
           open_only
               ? "SELECT id, device_id, release_id, version, from_release_id, from_version, "
                 "state, open, expected_tim, order_nonce, order_token, deadline, attempts, "
                 "next_action_at, report, detail, created_at, updated_at FROM jobs "
                 "WHERE open = 1 AND next_action_at <= ?1 ORDER BY next_action_at, id LIMIT ?2"
               : "SELECT id, device_id, release_id, version, from_release_id, from_version, "
                 "state, open, expected_tim, order_nonce, order_token, deadline, attempts, "
                 "next_action_at, report, detail, created_at, updated_at FROM jobs "
                 "ORDER BY id LIMIT ?2");
    s.Int(1, due_by).Int(2, limit);
    std::vector<UpdateJob> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadJob(s));
    if (rc != SQLITE_DONE) return Fail("list jobs", r.db);
    return out;
  }

  Status AppendAudit(const AuditEntry& entry) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto written = InTransaction<bool>([&]() -> Result<bool> {
      HENB_TRY(WriteAudit(entry));
      return true;
    });
    if (!written.ok()) return written.error();
    return OkStatus();
  }

  Result<std::vector<AuditEntry>> ListAudit(int64_t after_seq, int limit) override {
    Reader& r = NextReader();
    std::lock_guard<std::mutex> lock(r.mu);
    Stmt s(r.cache, r.db,
           "SELECT seq, at, actor, subject, event, detail, prev_hash, hash FROM audit "
           "WHERE seq > ? ORDER BY seq LIMIT ?");
    s.Int(1, after_seq).Int(2, limit);
    std::vector<AuditEntry> out;
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) {
      out.push_back(AuditEntry{s.ColInt(0), s.ColInt(1), s.ColText(2), s.ColText(3), s.ColText(4),
                               s.ColText(5), s.ColBlob(6), s.ColBlob(7)});
    }
    if (rc != SQLITE_DONE) return Fail("read audit", r.db);
    return out;
  }

 private:
  // Runs `body` in one IMMEDIATE transaction: committed if it returns a
  // value, rolled back if it returns an error. REQUIRES: mu_ held.
  template <typename T, typename F>
  Result<T> InTransaction(F&& body) {
    HENB_TRY(Exec("BEGIN IMMEDIATE"));
    Result<T> out = body();
    if (out.ok()) {
      if (Status st = Exec("COMMIT"); !st.ok()) out = st.error();
    }
    if (!out.ok()) (void)Exec("ROLLBACK");
    return out;
  }

  // The devices row of `d` (not its TPM clock, which device_state keeps).
  // REQUIRES: mu_ held, in a transaction.
  Status WriteDeviceRow(const DeviceRecord& d) {
    Stmt s(cache_, db_,
           "INSERT OR REPLACE INTO devices (device_id, hardware_model, ek_public, "
           "ek_certificate, ak_public, release_version, state, updated_at, release_id, "
           "agent_address, certificate_serial) VALUES (?,?,?,?,?,?,?,?,?,?,?)");
    s.Text(1, d.device_id).Text(2, d.hardware_model).Blob(3, d.ek_public);
    s.Blob(4, d.ek_certificate).Blob(5, d.ak_public).Text(6, d.release_version);
    s.Text(7, d.state).Int(8, d.updated_at).Text(9, d.release_id).Text(10, d.agent_address);
    s.Text(11, d.certificate_serial);
    return Done(s, "store device");
  }

  // REQUIRES: mu_ held, in a transaction.
  Status WriteAudit(const AuditEntry& entry) {
    AuditEntry e = entry;
    e.seq = 1;
    e.prev_hash = Bytes(32, 0);
    {
      Stmt q(cache_, db_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
      if (!q.ok()) return Fail("read audit");
      if (q.Step() == SQLITE_ROW) {
        e.seq = q.ColInt(0) + 1;
        e.prev_hash = q.ColBlob(1);
      }
    }
    e.hash = AuditHash(e.prev_hash, e);
    Stmt s(cache_, db_,
           "INSERT INTO audit (seq, at, actor, subject, event, detail, prev_hash, hash) "
           "VALUES (?,?,?,?,?,?,?,?)");
    s.Int(1, e.seq).Int(2, e.at).Text(3, e.actor).Text(4, e.subject).Text(5, e.event);
    s.Text(6, e.detail).Blob(7, e.prev_hash).Blob(8, e.hash);
    return Done(s, "append audit");
  }

  template <typename Bind>
  Result<std::optional<UpdateJob>> OneJob(const char* sql, Bind bind) {
    Reader& r = NextReader();
    std::lock_guard<std::mutex> lock(r.mu);
    Stmt s(r.cache, r.db, sql);
    bind(s);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return std::optional<UpdateJob>();
    if (rc != SQLITE_ROW) return Fail("read job", r.db);
    return std::optional<UpdateJob>(ReadJob(s));
  }

  Status Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return Error(ErrorCode::kStore, "SQLite: " + msg);
    }
    return OkStatus();
  }
  Error Fail(const std::string& what, sqlite3* db = nullptr) {
    return Error(ErrorCode::kStore, what + ": " + sqlite3_errmsg(db ? db : db_));
  }
  Result<std::optional<DeviceRecord>> ReadDevice(const std::string& id) {
    Reader& r = NextReader();
    std::lock_guard<std::mutex> lock(r.mu);
    Stmt s(r.cache, r.db,
           "SELECT d.device_id, hardware_model, ek_public, ek_certificate, ak_public, "
           "release_version, state, COALESCE(s.reset_count, 0), COALESCE(s.clock, 0), "
           "updated_at, release_id, agent_address, certificate_serial "
           "FROM devices d LEFT JOIN device_state s ON s.device_id = d.device_id "
           "WHERE d.device_id = ?");
    s.Text(1, id);
    const int rc = s.Step();
    if (rc == SQLITE_DONE) return std::optional<DeviceRecord>();
    if (rc != SQLITE_ROW) return Fail("read device", r.db);
    DeviceRecord d;
    d.device_id = s.ColText(0);
    d.hardware_model = s.ColText(1);
    d.ek_public = s.ColBlob(2);
    d.ek_certificate = s.ColBlob(3);
    d.ak_public = s.ColBlob(4);
    d.release_version = s.ColText(5);
    d.state = s.ColText(6);
    d.reset_count = static_cast<uint32_t>(s.ColInt(7));
    d.clock = static_cast<uint64_t>(s.ColInt(8));
    d.updated_at = s.ColInt(9);
    d.release_id = s.ColText(10);
    d.agent_address = s.ColText(11);
    d.certificate_serial = s.ColText(12);
    return std::optional<DeviceRecord>(std::move(d));
  }

  struct Reader {
    std::mutex mu;
    sqlite3* db = nullptr;
    StatementCache cache;
  };
  Reader& NextReader() { return *readers_[next_reader_++ % readers_.size()]; }
  static constexpr int kReaders = 4;
  Status Done(Stmt& s, const std::string& what) {
    if (!s.ok() || s.Step() != SQLITE_DONE) return Fail(what);
    return OkStatus();
  }

  struct PendingAppraisal {
    AppraisalRecord record;
    AppraisalDone done;
  };
  // Records in one transaction at most: a bound on how long the first of
  // them waits, and on the transaction's size.
  static constexpr size_t kMaxBatch = 256;
  // When records arrive faster than one per commit, the writer waits up to
  // kGatherWindow (or until kGatherTarget are queued) before it commits, so
  // that each commit carries more of them. A commit's cost is mostly per
  // transaction (the pages of device_state and of the tables' ends written
  // to the WAL again, file locks, two thread wake-ups), and without the wait
  // a busy PVE committed about 3 records at a time. A record that arrives
  // alone is committed at once.
  static constexpr size_t kGatherTarget = 64;
  static constexpr auto kGatherWindow = std::chrono::milliseconds(2);

  // The writer thread: runs until the store closes, and leaves nothing queued.
  void WriteQueued() {
    std::vector<PendingAppraisal> batch;
    size_t last_batch = 0;
    std::unique_lock<std::mutex> q(queue_mu_);
    for (;;) {
      queue_cv_.wait(q, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      if (last_batch > 1 && !closing_ && queue_.size() < kGatherTarget) {
        gathering_ = true;
        queue_cv_.wait_for(q, kGatherWindow,
                           [this] { return closing_ || queue_.size() >= kGatherTarget; });
        gathering_ = false;
      }
      last_batch = std::min(queue_.size(), kMaxBatch);
      const auto n = static_cast<ptrdiff_t>(last_batch);
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.begin() + n));
      queue_.erase(queue_.begin(), queue_.begin() + n);
      q.unlock();
      std::vector<Result<int64_t>> results = CommitAppraisals(batch);
      for (size_t i = 0; i < batch.size(); ++i) batch[i].done(std::move(results[i]));
      batch.clear();
      q.lock();
    }
  }

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
    std::mutex mu;
    std::unordered_map<std::string, DeviceRecord> records;  // guarded by mu
    uint64_t generation = 0;   // guarded by mu; moves on when records is emptied
    uint64_t clock_epoch = 0;  // guarded by mu; moves on with each appraisal commit
  };
  static constexpr size_t kCachedDevices = 100'000;
  static constexpr int64_t kOthersCheckMs = 100;

  static int64_t SteadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void ForgetDevices() {
    std::lock_guard<std::mutex> lock(devices_.mu);
    devices_.records.clear();
    ++devices_.generation;
  }
  // For a write of devices, under mu_: whatever its outcome (a failed
  // commit may still have changed the file), the cache is emptied before
  // mu_ is released.
  struct ForgetDevicesAfter {
    SqliteStore* store;
    ~ForgetDevicesAfter() { store->ForgetDevices(); }
  };

  // REQUIRES: mu_ held. PRAGMA data_version moves on when a connection
  // other than this one commits.
  void NoteCommitsOfOthers() {
    int64_t version = -1;
    {
      Stmt s(cache_, db_, "PRAGMA data_version");
      if (s.ok() && s.Step() == SQLITE_ROW) version = s.ColInt(0);
    }
    if (version < 0 || version != data_version_) ForgetDevices();
    data_version_ = version;
    others_checked_ms_.store(SteadyMs(), std::memory_order_relaxed);
  }

  // REQUIRES: mu_ held, after a commit of appraisals: the cached clocks move
  // as the stored ones did (forward only).
  void NoteAppraisalsCommitted(const std::vector<PendingAppraisal>& batch,
                               const std::vector<Result<int64_t>>& results) {
    NoteCommitsOfOthers();
    std::lock_guard<std::mutex> lock(devices_.mu);
    ++devices_.clock_epoch;
    for (size_t i = 0; i < batch.size(); ++i) {
      const AppraisalRecord& a = batch[i].record;
      if (!results[i].ok() || !a.advance_clock) continue;
      auto it = devices_.records.find(a.device_id);
      if (it == devices_.records.end()) continue;
      DeviceRecord& d = it->second;
      if (d.reset_count < a.reset_count || (d.reset_count == a.reset_count && d.clock < a.clock)) {
        d.reset_count = a.reset_count;
        d.clock = a.clock;
      }
    }
  }

  // REQUIRES: mu_ held.
  Result<int64_t> WriteAppraisal(const AppraisalRecord& a) {
    if (!a.spent_nonce.empty()) {
      HENB_ASSIGN_OR_RETURN(bool fresh, Spend(a.spent_nonce, a.nonce_expires_at));
      if (!fresh) return Error(ErrorCode::kPolicyNonce, "nonce already used");
    }
    {
      Stmt s(cache_, db_,
             "INSERT INTO appraisals (device_id, status, result, created_at) VALUES (?,?,?,?)");
      s.Text(1, a.device_id).Text(2, a.status).Text(3, a.result).Int(4, a.created_at);
      HENB_TRY(Done(s, "record appraisal"));
    }
    const auto id = static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
    // The latest result, and the clock moved forward (never back) when
    // asked; SET sees the row as it was, so both CASEs test the old clock.
    Stmt s(cache_, db_,
           "INSERT INTO device_state (device_id, reset_count, clock, latest_appraisal) "
           "VALUES (?1, iif(?5, ?2, 0), iif(?5, ?3, 0), ?4) ON CONFLICT (device_id) DO UPDATE SET "
           "latest_appraisal = ?4, "
           "reset_count = CASE WHEN ?5 AND (reset_count < ?2 OR (reset_count = ?2 AND clock < ?3)) "
           "THEN ?2 ELSE reset_count END, "
           "clock = CASE WHEN ?5 AND (reset_count < ?2 OR (reset_count = ?2 AND clock < ?3)) "
           "THEN ?3 ELSE clock END");
    s.Text(1, a.device_id).Int(2, a.reset_count).Int(3, static_cast<int64_t>(a.clock));
    s.Int(4, id).Int(5, a.advance_clock ? 1 : 0);
    HENB_TRY(Done(s, "record device state"));
    return id;
  }

  // REQUIRES: mu_ held. Runs one transaction-control statement, prepared once.
  Status Control(const char* sql) {
    Stmt s(cache_, db_, sql);
    return Done(s, sql);
  }

  // One result per entry, in order.
  std::vector<Result<int64_t>> CommitAppraisals(const std::vector<PendingAppraisal>& batch) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Result<int64_t>> results;
    results.reserve(batch.size());
    Status st = Control("BEGIN IMMEDIATE");
    for (size_t i = 0; st.ok() && i < batch.size(); ++i) {
      Result<int64_t> id = WriteAppraisal(batch[i].record);
      // A spent nonce is found before anything of its record is written.
      if (!id.ok() && id.error().code() != ErrorCode::kPolicyNonce) st = id.error();
      results.push_back(std::move(id));
    }
    if (st.ok()) st = Control("COMMIT");
    if (!st.ok()) {
      (void)Control("ROLLBACK");
      results.assign(batch.size(), st.error());
    }
    NoteAppraisalsCommitted(batch, results);
    return results;
  }

  // REQUIRES: mu_ held.
  Result<bool> Spend(ByteView nonce, int64_t expires_at) {
    Stmt s(cache_, db_, "INSERT OR IGNORE INTO spent_nonces (nonce, expires_at) VALUES (?,?)");
    s.Blob(1, nonce).Int(2, expires_at);
    HENB_TRY(Done(s, "spend nonce"));
    return sqlite3_changes(db_) == 1;
  }

  std::mutex mu_;  // the writer connection
  sqlite3* db_ = nullptr;
  StatementCache cache_;
  std::vector<std::unique_ptr<Reader>> readers_;
  std::mutex queue_mu_;  // group commit of appraisals
  std::condition_variable queue_cv_;
  std::vector<PendingAppraisal> queue_;  // guarded by queue_mu_
  bool closing_ = false;                 // guarded by queue_mu_
  bool gathering_ = false;               // guarded by queue_mu_
  std::thread writer_;                   // started by the first record
  std::atomic<size_t> next_reader_{0};
  DeviceCache devices_;
  int64_t data_version_ = -1;  // guarded by mu_
  std::atomic<int64_t> others_checked_ms_{0};
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  // SQLite's memory statistics take a process-wide mutex on every
  // allocation, which concurrent requests then contend for; nothing reads
  // them. This must precede SQLite's initialisation, so once per process.
  static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)configured;
  auto store = std::make_unique<SqliteStore>();
  HENB_TRY(store->Open(path));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace henbtrust
