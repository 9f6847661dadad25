// The OAM's watchdog rows of devices and its policies per hardware model in
// SQLite (Store::PutWatchdog, Store::PutModelPolicy).
#include "store/backend_rules.h"
#include "store/sqlite/sqlite_store.h"

namespace henbtrust::sqlite {

namespace {

// The device_watchdog table's columns in the order ReadWatchdog reads them.
#define HENB_WATCHDOG_COLUMNS \
  "device_id, mode, reason, deadline, last_ticket, last_ticket_at, updated_at"

WatchdogRecord ReadWatchdog(Stmt& s) {
  WatchdogRecord w;
  w.device_id = s.ColText(0);
  w.mode = s.ColText(1);
  w.reason = s.ColText(2);
  w.deadline = s.ColInt(3);
  w.last_ticket = s.ColText(4);
  w.last_ticket_at = s.ColInt(5);
  w.updated_at = s.ColInt(6);
  return w;
}

}  // namespace

Status SqliteStore::PutWatchdog(const WatchdogRecord& record,
                                const std::optional<AuditEntry>& audit) {
  MutexLock lock(mu_);
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    {
      Stmt q(cache_, db_, "SELECT 1 FROM devices WHERE device_id = ?");
      q.Text(1, record.device_id);
      const int rc = q.Step();
      if (rc == SQLITE_DONE) return store_rules::NoSuchDevice(record.device_id);
      if (rc != SQLITE_ROW) return Fail("read device");
    }
    Stmt s(cache_, db_,
           "INSERT OR REPLACE INTO device_watchdog (" HENB_WATCHDOG_COLUMNS
           ") VALUES (?,?,?,?,?,?,?)");
    s.Text(1, record.device_id).Text(2, record.mode).Text(3, record.reason);
    s.Int(4, record.deadline).Text(5, record.last_ticket).Int(6, record.last_ticket_at);
    s.Int(7, record.updated_at);
    HENB_TRY(Done(s, "store watchdog"));
    if (audit) HENB_TRY(WriteAudit(*audit));
    return OkStatus();
  });
}

Result<std::optional<WatchdogRecord>> SqliteStore::GetWatchdog(const std::string& device_id) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db,
         "SELECT " HENB_WATCHDOG_COLUMNS " FROM device_watchdog WHERE device_id = ?");
  s.Text(1, device_id);
  const int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<WatchdogRecord>();
  if (rc != SQLITE_ROW) return Fail("read watchdog", r.db);
  return std::optional<WatchdogRecord>(ReadWatchdog(s));
}

Result<std::vector<WatchdogRecord>> SqliteStore::ListWatchdogs(const std::string& after,
                                                               int limit) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db,
         "SELECT " HENB_WATCHDOG_COLUMNS
         " FROM device_watchdog WHERE device_id > ? ORDER BY device_id LIMIT ?");
  s.Text(1, after).Int(2, limit);
  std::vector<WatchdogRecord> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadWatchdog(s));
  if (rc != SQLITE_DONE) return Fail("list watchdogs", r.db);
  return out;
}

Status SqliteStore::PutModelPolicy(const ModelPolicy& policy, const AuditEntry& audit) {
  MutexLock lock(mu_);
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    Stmt s(cache_, db_,
           "INSERT OR REPLACE INTO model_policies (hardware_model, ticket_period, "
           "recovery_release_id, recovery_version, updated_at) VALUES (?,?,?,?,?)");
    s.Text(1, policy.hardware_model).Int(2, policy.ticket_period);
    s.Text(3, policy.recovery_release_id).Text(4, policy.recovery_version);
    s.Int(5, policy.updated_at);
    HENB_TRY(Done(s, "store model policy"));
    return WriteAudit(audit);
  });
}

Result<std::optional<ModelPolicy>> SqliteStore::GetModelPolicy(const std::string& hardware_model) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db,
         "SELECT hardware_model, ticket_period, recovery_release_id, recovery_version, "
         "updated_at FROM model_policies WHERE hardware_model = ?");
  s.Text(1, hardware_model);
  const int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<ModelPolicy>();
  if (rc != SQLITE_ROW) return Fail("read model policy", r.db);
  return std::optional<ModelPolicy>(
      ModelPolicy{s.ColText(0), s.ColInt(1), s.ColText(2), s.ColText(3), s.ColInt(4)});
}

}  // namespace henbtrust::sqlite
