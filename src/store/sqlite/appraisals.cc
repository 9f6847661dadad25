#include <algorithm>
#include <chrono>
#include <future>
#include <iterator>

#include "store/sqlite/sqlite_store.h"

namespace henbtrust::sqlite {

Result<bool> SqliteStore::SpendNonce(ByteView nonce, int64_t expires_at) {
  MutexLock lock(mu_);
  return Spend(nonce, expires_at);
}

Result<int64_t> SqliteStore::PurgeSpentNonces(int64_t now) {
  MutexLock lock(mu_);
  Stmt s(cache_, db_, "DELETE FROM spent_nonces WHERE expires_at < ?");
  s.Int(1, now);
  HENB_TRY(Done(s, "purge nonces"));
  return static_cast<int64_t>(sqlite3_changes(db_));
}

Result<int64_t> SqliteStore::RecordAppraisal(const AppraisalRecord& a) {
  std::promise<Result<int64_t>> answer;
  auto result = answer.get_future();
  RecordAppraisalAsync(a, [&answer](Result<int64_t> r) { answer.set_value(std::move(r)); });
  return result.get();
}

void SqliteStore::RecordAppraisalAsync(AppraisalRecord a, AppraisalDone done) {
  appraisals_.Add(std::move(a), std::move(done));
}

Result<std::optional<AppraisalRecord>> SqliteStore::LatestAppraisal(const std::string& device_id) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
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

Result<std::vector<AppraisalRecord>> SqliteStore::ListAppraisals(const std::string& device_id,
                                                                 int64_t after_id, int limit) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db,
         device_id.empty() ? "SELECT id, device_id, status, result, created_at FROM appraisals "
                             "WHERE id > ?1 ORDER BY id LIMIT ?2"
                           : "SELECT id, device_id, status, result, created_at FROM appraisals "
                             "WHERE device_id = ?3 AND id > ?1 ORDER BY id LIMIT ?2");
  s.Int(1, after_id).Int(2, limit);
  if (!device_id.empty()) s.Text(3, device_id);
  std::vector<AppraisalRecord> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    out.push_back(
        AppraisalRecord{s.ColInt(0), s.ColText(1), s.ColText(2), s.ColText(3), s.ColInt(4)});
  }
  if (rc != SQLITE_DONE) return Fail("list appraisals", r.db);
  return out;
}

std::vector<Result<int64_t>> SqliteStore::CommitAppraisals(
    const std::vector<PendingAppraisal>& batch) {
  MutexLock lock(mu_);
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

Result<int64_t> SqliteStore::WriteAppraisal(const AppraisalRecord& a) {
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

Result<bool> SqliteStore::Spend(ByteView nonce, int64_t expires_at) {
  Stmt s(cache_, db_, "INSERT OR IGNORE INTO spent_nonces (nonce, expires_at) VALUES (?,?)");
  s.Blob(1, nonce).Int(2, expires_at);
  HENB_TRY(Done(s, "spend nonce"));
  return sqlite3_changes(db_) == 1;
}

}  // namespace henbtrust::sqlite
