// Group labels of devices in PostgreSQL (Store::SetDeviceGroup).
#include "store/backend_rules.h"
#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

Status PostgresStore::SetDeviceGroup(const std::string& group, const std::string& device_id,
                                     bool member, const AuditEntry& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    // FOR SHARE: the device cannot be deleted under the new label.
    HENB_ASSIGN_OR_RETURN(ResultPtr d,
                          QueryOn(c, "SELECT 1 FROM devices WHERE device_id = $1 FOR SHARE",
                                  Params().Text(device_id)));
    if (PQntuples(d.get()) == 0) return store_rules::NoSuchDevice(device_id);
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        QueryOn(c,
                member ? "INSERT INTO device_groups (group_name, device_id) VALUES ($1, $2) "
                         "ON CONFLICT DO NOTHING"
                       : "DELETE FROM device_groups WHERE group_name = $1 AND device_id = $2",
                Params().Text(group).Text(device_id)));
    // Audited only when it changed something.
    if (std::string(PQcmdTuples(r.get())) == "0") return OkStatus();
    return WriteAudit(c, audit);
  });
}

Result<std::vector<std::string>> PostgresStore::GroupMembers(const std::string& group,
                                                             const std::string& after, int limit) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r, Query("SELECT device_id FROM device_groups WHERE "
                                           "group_name = $1 AND device_id > $2 "
                                           "ORDER BY device_id LIMIT $3",
                                           Params().Text(group).Text(after).Int(limit)));
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(ColText(r.get(), 0, i));
  return out;
}

}  // namespace henbtrust::postgres
