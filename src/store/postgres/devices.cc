#include "store/backend_rules.h"
#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

namespace {

constexpr const char* kPutDevice =
    "INSERT INTO devices (device_id, hardware_model, ek_public, ek_certificate, ak_public, "
    "release_version, state, reset_count, clock, updated_at, release_id, agent_address, "
    "certificate_serial, recovery_public_key) "
    "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) "
    "ON CONFLICT (device_id) DO UPDATE SET hardware_model = EXCLUDED.hardware_model, "
    "ek_public = EXCLUDED.ek_public, ek_certificate = EXCLUDED.ek_certificate, "
    "ak_public = EXCLUDED.ak_public, release_version = EXCLUDED.release_version, "
    "state = EXCLUDED.state, reset_count = EXCLUDED.reset_count, clock = EXCLUDED.clock, "
    "updated_at = EXCLUDED.updated_at, release_id = EXCLUDED.release_id, "
    "agent_address = EXCLUDED.agent_address, "
    "certificate_serial = EXCLUDED.certificate_serial, "
    "recovery_public_key = EXCLUDED.recovery_public_key";

Params DeviceParams(const DeviceRecord& d) {
  return Params()
      .Text(d.device_id)
      .Text(d.hardware_model)
      .Blob(d.ek_public)
      .Blob(d.ek_certificate)
      .Blob(d.ak_public)
      .Text(d.release_version)
      .Text(d.state)
      .Int(d.reset_count)
      .Int(static_cast<int64_t>(d.clock))
      .Int(d.updated_at)
      .Text(d.release_id)
      .Text(d.agent_address)
      .Text(d.certificate_serial)
      .Blob(d.recovery_public_key);
}

}  // namespace

Status PostgresStore::PutDevice(const DeviceRecord& d, const std::optional<AuditEntry>& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    HENB_TRY(QueryOn(c, kPutDevice, DeviceParams(d)));
    if (audit) HENB_TRY(WriteAudit(c, *audit));
    return OkStatus();
  });
}

Result<std::optional<DeviceRecord>> PostgresStore::GetDevice(const std::string& id) {
  HENB_ASSIGN_OR_RETURN(
      ResultPtr r,
      Query("SELECT device_id, hardware_model, ek_public, ek_certificate, ak_public, "
            "release_version, state, reset_count, clock, updated_at, release_id, agent_address, "
            "certificate_serial, recovery_public_key FROM devices WHERE device_id = $1",
            Params().Text(id)));
  if (PQntuples(r.get()) == 0) return std::optional<DeviceRecord>();
  PGresult* p = r.get();
  DeviceRecord d;
  d.device_id = ColText(p, 0);
  d.hardware_model = ColText(p, 1);
  d.ek_public = ColBlob(p, 2);
  d.ek_certificate = ColBlob(p, 3);
  d.ak_public = ColBlob(p, 4);
  d.release_version = ColText(p, 5);
  d.state = ColText(p, 6);
  d.reset_count = static_cast<uint32_t>(ColInt(p, 7));
  d.clock = static_cast<uint64_t>(ColInt(p, 8));
  d.updated_at = ColInt(p, 9);
  d.release_id = ColText(p, 10);
  d.agent_address = ColText(p, 11);
  d.certificate_serial = ColText(p, 12);
  d.recovery_public_key = ColBlob(p, 13);
  return std::optional<DeviceRecord>(std::move(d));
}

Status PostgresStore::SetDeviceRelease(const std::string& device_id, const std::string& release_id,
                                       const std::string& version, int64_t updated_at,
                                       const std::optional<AuditEntry>& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        QueryOn(c,
                "UPDATE devices SET release_id = $1, release_version = $2, "
                "updated_at = $3 WHERE device_id = $4",
                Params().Text(release_id).Text(version).Int(updated_at).Text(device_id)));
    if (std::string(PQcmdTuples(r.get())) == "0") return store_rules::NoSuchDevice(device_id);
    if (audit) HENB_TRY(WriteAudit(c, *audit));
    return OkStatus();
  });
}

Status PostgresStore::EnrollDevice(const DeviceRecord& d, const AuditEntry& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    // A new id: inserted, unless another instance inserted it first; an
    // enrolled one: its row is locked for the checks and the update.
    HENB_ASSIGN_OR_RETURN(
        ResultPtr inserted,
        QueryOn(c,
                "INSERT INTO devices (device_id, hardware_model, ek_public, ek_certificate, "
                "ak_public, release_version, state, reset_count, clock, updated_at, "
                "release_id, agent_address, certificate_serial, recovery_public_key) "
                "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) "
                "ON CONFLICT (device_id) DO NOTHING",
                DeviceParams(d)));
    if (std::string(PQcmdTuples(inserted.get())) == "1") return WriteAudit(c, audit);
    HENB_ASSIGN_OR_RETURN(ResultPtr row,
                          QueryOn(c,
                                  "SELECT ek_public, state, recovery_public_key FROM devices "
                                  "WHERE device_id = $1 FOR UPDATE",
                                  Params().Text(d.device_id)));
    if (PQntuples(row.get()) == 0) {
      return Error(ErrorCode::kPolicyDeviceConflict,
                   "device " + d.device_id + " changed meanwhile; enroll again");
    }
    HENB_TRY(store_rules::CheckReenrollment(d, ColBlob(row.get(), 0), ColText(row.get(), 1),
                                            ColBlob(row.get(), 2)));
    // The TPM clock seen so far stays unless this one is later.
    HENB_TRY(QueryOn(
        c,
        "UPDATE devices SET hardware_model = $2, ek_certificate = $4, ak_public = $5, "
        "release_version = $6, state = $7, updated_at = $10, release_id = $11, "
        "agent_address = $12, certificate_serial = $13, recovery_public_key = $14, "
        "clock = CASE WHEN ($8::bigint, $9::bigint) > (reset_count, clock) THEN $9 ELSE clock "
        "END, reset_count = GREATEST(reset_count, $8::bigint) "
        "WHERE device_id = $1 AND ek_public = $3",
        DeviceParams(d)));
    return WriteAudit(c, audit);
  });
}

Status PostgresStore::RevokeDevice(const std::string& device_id, int64_t updated_at,
                                   const AuditEntry& audit) {
  return InTransaction<void>([&](PGconn* c) -> Status {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        QueryOn(c,
                "UPDATE devices SET state = $1, certificate_serial = $1, updated_at = $2 "
                "WHERE device_id = $3",
                Params().Text(kDeviceRevoked).Int(updated_at).Text(device_id)));
    if (std::string(PQcmdTuples(r.get())) == "0") return store_rules::NoSuchDevice(device_id);
    return WriteAudit(c, audit);
  });
}

Result<std::vector<DeviceRecord>> PostgresStore::ListDevices(const std::string& after, int limit) {
  HENB_ASSIGN_OR_RETURN(
      ResultPtr r,
      Query("SELECT device_id FROM devices WHERE device_id > $1 ORDER BY device_id LIMIT $2",
            Params().Text(after).Int(limit)));
  std::vector<std::string> ids;
  ids.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) ids.push_back(ColText(r.get(), 0, i));
  return store_rules::DevicesById(*this, ids);
}

}  // namespace henbtrust::postgres
