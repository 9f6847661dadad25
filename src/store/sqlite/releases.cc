#include "store/backend_rules.h"
#include "store/sqlite/sqlite_store.h"

namespace henbtrust::sqlite {

Status SqliteStore::PutManifest(const ManifestRecord& m) {
  MutexLock lock(mu_);
  Stmt s(cache_, db_,
         "INSERT OR REPLACE INTO manifests (release_id, version, manifest, revoked_reason) "
         "VALUES (?,?,?,?)");
  s.Text(1, m.release_id).Text(2, m.version).Blob(3, m.manifest).Text(4, m.revoked_reason);
  return Done(s, "store manifest");
}

Result<std::optional<ManifestRecord>> SqliteStore::GetManifest(const std::string& release_id,
                                                               const std::string& version) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
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

Status SqliteStore::RevokeRelease(const std::string& release_id, const std::string& version,
                                  const std::string& reason,
                                  const std::optional<AuditEntry>& audit) {
  MutexLock lock(mu_);
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    Stmt s(cache_, db_,
           "UPDATE manifests SET revoked_reason = ? WHERE release_id = ? AND version = ?");
    s.Text(1, store_rules::RevocationReason(reason)).Text(2, release_id).Text(3, version);
    HENB_TRY(Done(s, "revoke release"));
    if (sqlite3_changes(db_) == 0) return store_rules::NoSuchRelease(release_id, version);
    if (audit) HENB_TRY(WriteAudit(*audit));
    return OkStatus();
  });
}

Status SqliteStore::UnrevokeRelease(const std::string& release_id, const std::string& version,
                                    const AuditEntry& audit) {
  MutexLock lock(mu_);
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    Stmt s(cache_, db_,
           "UPDATE manifests SET revoked_reason = '' WHERE release_id = ? AND version = ?");
    s.Text(1, release_id).Text(2, version);
    HENB_TRY(Done(s, "withdraw a revocation"));
    if (sqlite3_changes(db_) == 0) return store_rules::NoSuchRelease(release_id, version);
    return WriteAudit(audit);
  });
}

}  // namespace henbtrust::sqlite
