// Group labels of devices in SQLite (Store::SetDeviceGroup).
#include "store/backend_rules.h"
#include "store/sqlite/sqlite_store.h"

namespace henbtrust::sqlite {

Status SqliteStore::SetDeviceGroup(const std::string& group, const std::string& device_id,
                                   bool member, const AuditEntry& audit) {
  MutexLock lock(mu_);
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    {
      Stmt q(cache_, db_, "SELECT 1 FROM devices WHERE device_id = ?");
      q.Text(1, device_id);
      if (q.Step() != SQLITE_ROW) return store_rules::NoSuchDevice(device_id);
    }
    Stmt s(cache_, db_,
           member ? "INSERT OR IGNORE INTO device_groups (group_name, device_id) VALUES (?, ?)"
                  : "DELETE FROM device_groups WHERE group_name = ? AND device_id = ?");
    s.Text(1, group).Text(2, device_id);
    HENB_TRY(Done(s, "change a group"));
    // Audited only when it changed something.
    if (sqlite3_changes(db_) == 0) return OkStatus();
    return WriteAudit(audit);
  });
}

Result<std::vector<std::string>> SqliteStore::GroupMembers(const std::string& group,
                                                           const std::string& after, int limit) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db,
         "SELECT device_id FROM device_groups WHERE group_name = ? AND device_id > ? "
         "ORDER BY device_id LIMIT ?");
  s.Text(1, group).Text(2, after).Int(3, limit);
  std::vector<std::string> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(s.ColText(0));
  if (rc != SQLITE_DONE) return Fail("list a group", r.db);
  return out;
}

}  // namespace henbtrust::sqlite
