// Device certificates over time: renewal, decommissioning, and the serials
// TLS servers refuse.
#include "store/backend_rules.h"
#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

Status PostgresStore::RenewDeviceCertificate(const std::string& device_id,
                                             const std::string& from_serial,
                                             const std::string& new_serial, int64_t updated_at,
                                             const AuditEntry& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    HENB_ASSIGN_OR_RETURN(ResultPtr row, QueryOn(c,
                                                 "SELECT state, certificate_serial FROM devices "
                                                 "WHERE device_id = $1 FOR UPDATE",
                                                 Params().Text(device_id)));
    if (PQntuples(row.get()) == 0) return store_rules::NoSuchDevice(device_id);
    HENB_TRY(store_rules::CheckRenewal(device_id, ColText(row.get(), 0), ColText(row.get(), 1),
                                       from_serial));
    HENB_TRY(QueryOn(c,
                     "UPDATE devices SET certificate_serial = $1, updated_at = $2 "
                     "WHERE device_id = $3",
                     Params().Text(new_serial).Int(updated_at).Text(device_id)));
    return WriteAudit(c, audit);
  });
}

Status PostgresStore::DecommissionDevice(const std::string& device_id, int64_t updated_at,
                                         const AuditEntry& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    HENB_ASSIGN_OR_RETURN(ResultPtr row,
                          QueryOn(c, "SELECT state FROM devices WHERE device_id = $1 FOR UPDATE",
                                  Params().Text(device_id)));
    if (PQntuples(row.get()) == 0) return store_rules::NoSuchDevice(device_id);
    HENB_TRY(store_rules::CheckDecommission(device_id, ColText(row.get(), 0)));
    HENB_TRY(QueryOn(c, "UPDATE devices SET state = $1, updated_at = $2 WHERE device_id = $3",
                     Params().Text(kDeviceDecommissioned).Int(updated_at).Text(device_id)));
    return WriteAudit(c, audit);
  });
}

Result<std::vector<std::string>> PostgresStore::RefusedCertificateSerials() {
  HENB_ASSIGN_OR_RETURN(ResultPtr r, Query("SELECT certificate_serial FROM devices "
                                           "WHERE state = $1 AND certificate_serial <> ''",
                                           Params().Text(kDeviceDecommissioned)));
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(ColText(r.get(), 0, i));
  return out;
}

}  // namespace henbtrust::postgres
