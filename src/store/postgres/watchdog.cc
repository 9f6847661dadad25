// The OAM's watchdog rows of devices and its policies per hardware model in
// PostgreSQL (Store::PutWatchdog, Store::PutModelPolicy).
#include "store/backend_rules.h"
#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

namespace {

// The device_watchdog table's columns in the order ReadWatchdog reads them.
#define HENB_WATCHDOG_COLUMNS \
  "device_id, mode, reason, deadline, last_ticket, last_ticket_at, updated_at"

WatchdogRecord ReadWatchdog(PGresult* r, int row) {
  WatchdogRecord w;
  w.device_id = ColText(r, 0, row);
  w.mode = ColText(r, 1, row);
  w.reason = ColText(r, 2, row);
  w.deadline = ColInt(r, 3, row);
  w.last_ticket = ColText(r, 4, row);
  w.last_ticket_at = ColInt(r, 5, row);
  w.updated_at = ColInt(r, 6, row);
  return w;
}

}  // namespace

Status PostgresStore::PutWatchdog(const WatchdogRecord& record,
                                  const std::optional<AuditEntry>& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    // FOR SHARE: the device cannot be deleted under its new row.
    HENB_ASSIGN_OR_RETURN(ResultPtr d,
                          QueryOn(c, "SELECT 1 FROM devices WHERE device_id = $1 FOR SHARE",
                                  Params().Text(record.device_id)));
    if (PQntuples(d.get()) == 0) return store_rules::NoSuchDevice(record.device_id);
    HENB_TRY(QueryOn(c,
                     "INSERT INTO device_watchdog (" HENB_WATCHDOG_COLUMNS
                     ") VALUES ($1,$2,$3,$4,$5,$6,$7) "
                     "ON CONFLICT (device_id) DO UPDATE SET mode = EXCLUDED.mode, "
                     "reason = EXCLUDED.reason, deadline = EXCLUDED.deadline, "
                     "last_ticket = EXCLUDED.last_ticket, "
                     "last_ticket_at = EXCLUDED.last_ticket_at, updated_at = EXCLUDED.updated_at",
                     Params()
                         .Text(record.device_id)
                         .Text(record.mode)
                         .Text(record.reason)
                         .Int(record.deadline)
                         .Text(record.last_ticket)
                         .Int(record.last_ticket_at)
                         .Int(record.updated_at)));
    if (audit) HENB_TRY(WriteAudit(c, *audit));
    return OkStatus();
  });
}

Result<std::optional<WatchdogRecord>> PostgresStore::GetWatchdog(const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r, Query("SELECT " HENB_WATCHDOG_COLUMNS
                                           " FROM device_watchdog WHERE device_id = $1",
                                           Params().Text(device_id)));
  if (PQntuples(r.get()) == 0) return std::optional<WatchdogRecord>();
  return std::optional<WatchdogRecord>(ReadWatchdog(r.get(), 0));
}

Result<std::vector<WatchdogRecord>> PostgresStore::ListWatchdogs(const std::string& after,
                                                                 int limit) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r, Query("SELECT " HENB_WATCHDOG_COLUMNS
                                           " FROM device_watchdog WHERE device_id > $1 "
                                           "ORDER BY device_id LIMIT $2",
                                           Params().Text(after).Int(limit)));
  std::vector<WatchdogRecord> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(ReadWatchdog(r.get(), i));
  return out;
}

Status PostgresStore::PutModelPolicy(const ModelPolicy& policy, const AuditEntry& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    HENB_TRY(QueryOn(c,
                     "INSERT INTO model_policies (hardware_model, ticket_period, "
                     "recovery_release_id, recovery_version, updated_at) "
                     "VALUES ($1,$2,$3,$4,$5) "
                     "ON CONFLICT (hardware_model) DO UPDATE SET "
                     "ticket_period = EXCLUDED.ticket_period, "
                     "recovery_release_id = EXCLUDED.recovery_release_id, "
                     "recovery_version = EXCLUDED.recovery_version, "
                     "updated_at = EXCLUDED.updated_at",
                     Params()
                         .Text(policy.hardware_model)
                         .Int(policy.ticket_period)
                         .Text(policy.recovery_release_id)
                         .Text(policy.recovery_version)
                         .Int(policy.updated_at)));
    return WriteAudit(c, audit);
  });
}

Result<std::optional<ModelPolicy>> PostgresStore::GetModelPolicy(
    const std::string& hardware_model) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r,
                        Query("SELECT hardware_model, ticket_period, recovery_release_id, "
                              "recovery_version, updated_at FROM model_policies "
                              "WHERE hardware_model = $1",
                              Params().Text(hardware_model)));
  if (PQntuples(r.get()) == 0) return std::optional<ModelPolicy>();
  PGresult* p = r.get();
  return std::optional<ModelPolicy>(
      ModelPolicy{ColText(p, 0), ColInt(p, 1), ColText(p, 2), ColText(p, 3), ColInt(p, 4)});
}

}  // namespace henbtrust::postgres
