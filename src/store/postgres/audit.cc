#include "store/backend_rules.h"
#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

namespace {

// An arbitrary key for the advisory lock that serialises appends to the
// audit chain across instances.
constexpr int64_t kAuditLock = 0x68656e63;

}  // namespace

Status PostgresStore::AppendAudit(const AuditEntry& entry) {
  auto written = InTransaction<bool>([&](PGconn* c) -> Result<bool> {
    HENB_TRY(WriteAudit(c, entry));
    return true;
  });
  if (!written.ok()) return written.error();
  return OkStatus();
}

Result<std::vector<AuditEntry>> PostgresStore::ListAudit(int64_t after_seq, int limit) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r,
                        Query("SELECT seq, at, actor, subject, event, detail, prev_hash, hash "
                              "FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                              Params().Int(after_seq).Int(limit)));
  std::vector<AuditEntry> out;
  PGresult* p = r.get();
  out.reserve(static_cast<size_t>(PQntuples(p)));
  for (int i = 0; i < PQntuples(p); ++i) {
    out.push_back(AuditEntry{ColInt(p, 0, i), ColInt(p, 1, i), ColText(p, 2, i), ColText(p, 3, i),
                             ColText(p, 4, i), ColText(p, 5, i), ColBlob(p, 6, i),
                             ColBlob(p, 7, i)});
  }
  return out;
}

Status PostgresStore::WriteAudit(PGconn* c, const AuditEntry& entry) {
  HENB_TRY(QueryOn(c, "SELECT pg_advisory_xact_lock($1)", Params().Int(kAuditLock)));
  HENB_ASSIGN_OR_RETURN(
      ResultPtr last,
      QueryOn(c, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", Params()));
  store_rules::AuditHead head;
  if (PQntuples(last.get()) == 1) head = {ColInt(last.get(), 0), ColBlob(last.get(), 1)};
  const AuditEntry e = store_rules::ChainAfter(head, entry);
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

}  // namespace henbtrust::postgres
