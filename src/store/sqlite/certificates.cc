// Device certificates over time: renewal, decommissioning, and the serials
// TLS servers refuse.
#include "store/backend_rules.h"
#include "store/sqlite/sqlite_store.h"

namespace henbtrust::sqlite {

Status SqliteStore::RenewDeviceCertificate(const std::string& device_id,
                                           const std::string& from_serial,
                                           const std::string& new_serial, int64_t updated_at,
                                           const AuditEntry& audit) {
  MutexLock lock(mu_);
  const ForgetDevicesAfter forget{this};
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    {
      Stmt q(cache_, db_, "SELECT state, certificate_serial FROM devices WHERE device_id = ?");
      q.Text(1, device_id);
      const int rc = q.Step();
      if (rc == SQLITE_DONE) return store_rules::NoSuchDevice(device_id);
      if (rc != SQLITE_ROW) return Fail("read device");
      HENB_TRY(store_rules::CheckRenewal(device_id, q.ColText(0), q.ColText(1), from_serial));
    }
    Stmt s(cache_, db_,
           "UPDATE devices SET certificate_serial = ?, updated_at = ? WHERE device_id = ?");
    s.Text(1, new_serial).Int(2, updated_at).Text(3, device_id);
    HENB_TRY(Done(s, "renew device certificate"));
    return WriteAudit(audit);
  });
}

Status SqliteStore::DecommissionDevice(const std::string& device_id, int64_t updated_at,
                                       const AuditEntry& audit) {
  MutexLock lock(mu_);
  const ForgetDevicesAfter forget{this};
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    {
      Stmt q(cache_, db_, "SELECT state FROM devices WHERE device_id = ?");
      q.Text(1, device_id);
      const int rc = q.Step();
      if (rc == SQLITE_DONE) return store_rules::NoSuchDevice(device_id);
      if (rc != SQLITE_ROW) return Fail("read device");
      HENB_TRY(store_rules::CheckDecommission(device_id, q.ColText(0)));
    }
    Stmt s(cache_, db_, "UPDATE devices SET state = ?, updated_at = ? WHERE device_id = ?");
    s.Text(1, kDeviceDecommissioned).Int(2, updated_at).Text(3, device_id);
    HENB_TRY(Done(s, "decommission device"));
    return WriteAudit(audit);
  });
}

Result<std::vector<std::string>> SqliteStore::RefusedCertificateSerials() {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db,
         "SELECT certificate_serial FROM devices WHERE state = ? AND certificate_serial <> ''");
  s.Text(1, kDeviceDecommissioned);
  std::vector<std::string> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(s.ColText(0));
  if (rc != SQLITE_DONE) return Fail("list refused certificates", r.db);
  return out;
}

}  // namespace henbtrust::sqlite
