#include "store/backend_rules.h"
#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

Status PostgresStore::PutManifest(const ManifestRecord& m) {
  return Exec(
      "INSERT INTO manifests (release_id, version, manifest, revoked_reason) VALUES "
      "($1,$2,$3,$4) "
      "ON CONFLICT (release_id, version) DO UPDATE SET manifest = EXCLUDED.manifest, "
      "revoked_reason = EXCLUDED.revoked_reason",
      Params().Text(m.release_id).Text(m.version).Blob(m.manifest).Text(m.revoked_reason));
}

Result<std::optional<ManifestRecord>> PostgresStore::GetManifest(const std::string& release_id,
                                                                 const std::string& version) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r,
                        Query("SELECT release_id, version, manifest, revoked_reason FROM manifests "
                              "WHERE release_id = $1 AND version = $2",
                              Params().Text(release_id).Text(version)));
  if (PQntuples(r.get()) == 0) return std::optional<ManifestRecord>();
  PGresult* p = r.get();
  return std::optional<ManifestRecord>(
      ManifestRecord{ColText(p, 0), ColText(p, 1), ColBlob(p, 2), ColText(p, 3)});
}

Status PostgresStore::RevokeRelease(const std::string& release_id, const std::string& version,
                                    const std::string& reason,
                                    const std::optional<AuditEntry>& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        QueryOn(
            c,
            "UPDATE manifests SET revoked_reason = $1 WHERE release_id = $2 AND "
            "version = $3",
            Params().Text(store_rules::RevocationReason(reason)).Text(release_id).Text(version)));
    if (std::string(PQcmdTuples(r.get())) == "0")
      return store_rules::NoSuchRelease(release_id, version);
    if (audit) HENB_TRY(WriteAudit(c, *audit));
    return OkStatus();
  });
}

Status PostgresStore::UnrevokeRelease(const std::string& release_id, const std::string& version,
                                      const AuditEntry& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    HENB_ASSIGN_OR_RETURN(ResultPtr r, QueryOn(c,
                                               "UPDATE manifests SET revoked_reason = '' "
                                               "WHERE release_id = $1 AND version = $2",
                                               Params().Text(release_id).Text(version)));
    if (std::string(PQcmdTuples(r.get())) == "0") {
      return store_rules::NoSuchRelease(release_id, version);
    }
    return WriteAudit(c, audit);
  });
}

}  // namespace henbtrust::postgres
