#include "store/backend_rules.h"
#include "store/sqlite/sqlite_store.h"

namespace henbtrust::sqlite {

namespace {

// The jobs table's columns in the order ReadJob reads and BindJob binds them.
#define HENB_JOB_COLUMNS                                                                 \
  "id, device_id, release_id, version, from_release_id, from_version, state, open, "     \
  "expected_tim, order_nonce, order_token, deadline, attempts, next_action_at, report, " \
  "detail, created_at, updated_at, kind, lease_owner, lease_until"

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
  // A kind this version does not know is an update: the strictest (it asks
  // for an affirming appraisal first).
  j.kind = ParseJobKind(s.ColText(18)).value_or(JobKind::kUpdate);
  j.lease_owner = s.ColText(19);
  j.lease_until = s.ColInt(20);
  return j;
}

// Binds every field but the id, from parameter 1 on, in the jobs table's
// column order.
void BindJob(Stmt& s, const UpdateJob& j) {
  s.Text(1, j.device_id).Text(2, j.release_id).Text(3, j.version).Text(4, j.from_release_id);
  s.Text(5, j.from_version)
      .Text(6, std::string(JobStateName(j.state)))
      .Int(7, j.open ? 1 : 0)
      .Blob(8, j.expected_tim);
  s.Blob(9, j.order_nonce).Text(10, j.order).Int(11, j.deadline).Int(12, j.attempts);
  s.Int(13, j.next_action_at).Text(14, j.report).Text(15, j.detail).Int(16, j.created_at);
  s.Int(17, j.updated_at).Text(18, std::string(JobKindName(j.kind)));
}

}  // namespace

template <typename Bind>
Result<std::optional<UpdateJob>> SqliteStore::OneJob(const char* sql, Bind bind) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db, sql);
  bind(s);
  const int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<UpdateJob>();
  if (rc != SQLITE_ROW) return Fail("read job", r.db);
  return std::optional<UpdateJob>(ReadJob(s));
}

Result<int64_t> SqliteStore::CreateJob(const UpdateJob& job, const AuditEntry& audit,
                                       int64_t campaign_id) {
  MutexLock lock(mu_);
  return InTransaction<int64_t>([&]() REQUIRES(mu_) -> Result<int64_t> {
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
           "next_action_at, report, detail, created_at, updated_at, kind) "
           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    BindJob(s, job);
    HENB_TRY(Done(s, "create job"));
    const auto id = static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
    if (campaign_id != 0) {
      Stmt m(cache_, db_,
             "UPDATE campaign_members SET job_id = ? WHERE campaign_id = ? AND device_id = ? "
             "AND job_id = 0 AND note = ''");
      m.Int(1, id).Int(2, campaign_id).Text(3, job.device_id);
      HENB_TRY(Done(m, "record the campaign's job"));
      if (sqlite3_changes(db_) == 0) return store_rules::MemberTaken(campaign_id, job.device_id);
    }
    HENB_TRY(WriteAudit(store_rules::AuditOfNewJob(audit, id)));
    return id;
  });
}

Result<std::optional<UpdateJob>> SqliteStore::GetJob(int64_t id) {
  return OneJob("SELECT " HENB_JOB_COLUMNS " FROM jobs WHERE id = ?",
                [&](Stmt& s) { s.Int(1, id); });
}

Result<std::optional<UpdateJob>> SqliteStore::OpenJobFor(const std::string& device_id) {
  return OneJob("SELECT " HENB_JOB_COLUMNS
                " FROM jobs "
                "WHERE device_id = ? AND open = 1",
                [&](Stmt& s) { s.Text(1, device_id); });
}

Result<bool> SqliteStore::TransitionJob(const UpdateJob& job, JobState from_state,
                                        const std::optional<AuditEntry>& audit) {
  MutexLock lock(mu_);
  return InTransaction<bool>([&]() REQUIRES(mu_) -> Result<bool> {
    Stmt s(cache_, db_,
           "UPDATE jobs SET device_id = ?1, release_id = ?2, version = ?3, "
           "from_release_id = ?4, from_version = ?5, state = ?6, open = ?7, expected_tim = ?8, "
           "order_nonce = ?9, order_token = ?10, deadline = ?11, attempts = ?12, "
           "next_action_at = ?13, report = ?14, detail = ?15, created_at = ?16, "
           "updated_at = ?17, kind = ?18 WHERE id = ?19 AND state = ?20");
    BindJob(s, job);
    s.Int(19, job.id).Text(20, std::string(JobStateName(from_state)));
    HENB_TRY(Done(s, "update job"));
    if (sqlite3_changes(db_) == 0) return false;
    if (audit) HENB_TRY(WriteAudit(*audit));
    return true;
  });
}

Result<std::vector<UpdateJob>> SqliteStore::ListJobs(bool open_only, int64_t due_by, int limit,
                                                     int64_t after_id) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db,
         open_only ? "SELECT " HENB_JOB_COLUMNS
                     " FROM jobs "
                     "WHERE open = 1 AND next_action_at <= ?1 ORDER BY next_action_at, id LIMIT ?2"
                   : "SELECT " HENB_JOB_COLUMNS
                     " FROM jobs "
                     "WHERE id > ?3 ORDER BY id LIMIT ?2");
  s.Int(1, due_by).Int(2, limit).Int(3, after_id);
  std::vector<UpdateJob> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadJob(s));
  if (rc != SQLITE_DONE) return Fail("list jobs", r.db);
  return out;
}

// SQLite has one writer at a time: the transaction itself is the claim.
Result<std::vector<UpdateJob>> SqliteStore::ClaimDueJobs(const std::string& owner, int64_t now,
                                                         int64_t lease_until, int limit) {
  MutexLock lock(mu_);
  return InTransaction<std::vector<UpdateJob>>(
      [&]() REQUIRES(mu_) -> Result<std::vector<UpdateJob>> {
        std::vector<UpdateJob> out;
        {
          Stmt s(cache_, db_,
                 "SELECT " HENB_JOB_COLUMNS
                 " FROM jobs WHERE open = 1 AND next_action_at <= ?1 "
                 "AND (lease_until <= ?1 OR lease_owner = ?2) "
                 "ORDER BY next_action_at, id LIMIT ?3");
          s.Int(1, now).Text(2, owner).Int(3, limit);
          int rc;
          while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadJob(s));
          if (rc != SQLITE_DONE) return Fail("claim jobs", db_);
        }
        for (auto& j : out) {
          Stmt u(cache_, db_, "UPDATE jobs SET lease_owner = ?1, lease_until = ?2 WHERE id = ?3");
          u.Text(1, owner).Int(2, lease_until).Int(3, j.id);
          HENB_TRY(Done(u, "lease job"));
          j.lease_owner = owner;
          j.lease_until = lease_until;
        }
        return out;
      });
}

// SQLite has one writer at a time: the transaction is the claim.
Result<bool> SqliteStore::ClaimJob(int64_t id, const std::string& owner, int64_t now,
                                   int64_t lease_until) {
  MutexLock lock(mu_);
  return InTransaction<bool>([&]() REQUIRES(mu_) -> Result<bool> {
    Stmt s(cache_, db_,
           "UPDATE jobs SET lease_owner = ?1, lease_until = ?2 WHERE id = ?3 "
           "AND (lease_until <= ?4 OR lease_owner = ?1)");
    s.Text(1, owner).Int(2, lease_until).Int(3, id).Int(4, now);
    HENB_TRY(Done(s, "lease job"));
    return sqlite3_changes(db_) > 0;
  });
}

}  // namespace henbtrust::sqlite
