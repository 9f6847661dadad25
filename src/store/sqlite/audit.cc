#include "store/backend_rules.h"
#include "store/sqlite/sqlite_store.h"

namespace henbtrust::sqlite {

Status SqliteStore::AppendAudit(const AuditEntry& entry) {
  MutexLock lock(mu_);
  auto written = InTransaction<bool>([&]() REQUIRES(mu_) -> Result<bool> {
    HENB_TRY(WriteAudit(entry));
    return true;
  });
  if (!written.ok()) return written.error();
  return OkStatus();
}

Result<std::vector<AuditEntry>> SqliteStore::ListAudit(int64_t after_seq, int limit) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
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

Status SqliteStore::WriteAudit(const AuditEntry& entry) {
  store_rules::AuditHead head;
  {
    Stmt q(cache_, db_, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (!q.ok()) return Fail("read audit");
    if (q.Step() == SQLITE_ROW) head = {q.ColInt(0), q.ColBlob(1)};
  }
  const AuditEntry e = store_rules::ChainAfter(head, entry);
  Stmt s(cache_, db_,
         "INSERT INTO audit (seq, at, actor, subject, event, detail, prev_hash, hash) "
         "VALUES (?,?,?,?,?,?,?,?)");
  s.Int(1, e.seq).Int(2, e.at).Text(3, e.actor).Text(4, e.subject).Text(5, e.event);
  s.Text(6, e.detail).Blob(7, e.prev_hash).Blob(8, e.hash);
  return Done(s, "append audit");
}

}  // namespace henbtrust::sqlite
