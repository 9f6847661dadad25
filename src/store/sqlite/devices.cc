#include <chrono>

#include "store/backend_rules.h"
#include "store/sqlite/sqlite_store.h"

namespace henbtrust::sqlite {

Status SqliteStore::PutDevice(const DeviceRecord& d, const std::optional<AuditEntry>& audit) {
  MutexLock lock(mu_);
  const ForgetDevicesAfter forget{this};
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    HENB_TRY(WriteDeviceRow(d));
    if (audit) HENB_TRY(WriteAudit(*audit));
    Stmt s(cache_, db_,
           "INSERT INTO device_state (device_id, reset_count, clock, latest_appraisal) "
           "VALUES (?1, ?2, ?3, 0) ON CONFLICT (device_id) DO UPDATE SET "
           "reset_count = excluded.reset_count, clock = excluded.clock");
    s.Text(1, d.device_id).Int(2, d.reset_count).Int(3, static_cast<int64_t>(d.clock));
    return Done(s, "store device state");
  });
}

Result<std::optional<DeviceRecord>> SqliteStore::GetDevice(const std::string& id) {
  if (env_->SteadyMillis() - others_checked_ms_.load(std::memory_order_relaxed) > kOthersCheckMs) {
    MutexLock lock(mu_);
    NoteCommitsOfOthers();
  }
  uint64_t generation = 0;
  uint64_t clock_epoch = 0;
  {
    MutexLock lock(devices_.mu);
    auto it = devices_.records.find(id);
    if (it != devices_.records.end()) return std::optional<DeviceRecord>(it->second);
    generation = devices_.generation;
    clock_epoch = devices_.clock_epoch;
  }
  HENB_ASSIGN_OR_RETURN(auto device, ReadDevice(id));
  MutexLock lock(devices_.mu);
  // Kept only if nothing was committed since the read began, which the
  // record might then not show.
  if (device && generation == devices_.generation && clock_epoch == devices_.clock_epoch) {
    if (devices_.records.size() >= kCachedDevices) devices_.records.erase(devices_.records.begin());
    devices_.records.try_emplace(id, *device);
  }
  return device;
}

Status SqliteStore::SetDeviceRelease(const std::string& device_id, const std::string& release_id,
                                     const std::string& version, int64_t updated_at,
                                     const std::optional<AuditEntry>& audit) {
  MutexLock lock(mu_);
  const ForgetDevicesAfter forget{this};
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    Stmt s(cache_, db_,
           "UPDATE devices SET release_id = ?, release_version = ?, updated_at = ? "
           "WHERE device_id = ?");
    s.Text(1, release_id).Text(2, version).Int(3, updated_at).Text(4, device_id);
    HENB_TRY(Done(s, "set device release"));
    if (sqlite3_changes(db_) == 0) return store_rules::NoSuchDevice(device_id);
    if (audit) HENB_TRY(WriteAudit(*audit));
    return OkStatus();
  });
}

Status SqliteStore::EnrollDevice(const DeviceRecord& d, const AuditEntry& audit) {
  MutexLock lock(mu_);
  const ForgetDevicesAfter forget{this};
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    {
      Stmt q(cache_, db_,
             "SELECT ek_public, state, recovery_public_key FROM devices WHERE device_id = ?");
      q.Text(1, d.device_id);
      const int rc = q.Step();
      if (rc == SQLITE_ROW) {
        HENB_TRY(store_rules::CheckReenrollment(d, q.ColBlob(0), q.ColText(1), q.ColBlob(2)));
      } else if (rc != SQLITE_DONE) {
        return Fail("read device");
      }
    }
    HENB_TRY(WriteDeviceRow(d));
    {
      // The TPM clock seen so far stays unless this one is later.
      Stmt s(cache_, db_,
             "INSERT INTO device_state (device_id, reset_count, clock, latest_appraisal) "
             "VALUES (?1, ?2, ?3, 0) ON CONFLICT (device_id) DO UPDATE SET "
             "reset_count = excluded.reset_count, clock = excluded.clock "
             "WHERE excluded.reset_count > reset_count OR "
             "(excluded.reset_count = reset_count AND excluded.clock > clock)");
      s.Text(1, d.device_id).Int(2, d.reset_count).Int(3, static_cast<int64_t>(d.clock));
      HENB_TRY(Done(s, "enroll device state"));
    }
    return WriteAudit(audit);
  });
}

Status SqliteStore::RevokeDevice(const std::string& device_id, int64_t updated_at,
                                 const AuditEntry& audit) {
  MutexLock lock(mu_);
  const ForgetDevicesAfter forget{this};
  return InTransaction<void>([&]() REQUIRES(mu_) -> Status {
    Stmt s(cache_, db_,
           "UPDATE devices SET state = ?, certificate_serial = ?, updated_at = ? "
           "WHERE device_id = ?");
    s.Text(1, kDeviceRevoked).Text(2, kDeviceRevoked).Int(3, updated_at).Text(4, device_id);
    HENB_TRY(Done(s, "revoke device"));
    if (sqlite3_changes(db_) == 0) return store_rules::NoSuchDevice(device_id);
    return WriteAudit(audit);
  });
}

Result<std::vector<DeviceRecord>> SqliteStore::ListDevices(const std::string& after, int limit) {
  std::vector<std::string> ids;
  {
    Reader& r = NextReader();
    MutexLock lock(r.mu);
    Stmt s(r.cache, r.db,
           "SELECT device_id FROM devices WHERE device_id > ? ORDER BY device_id LIMIT ?");
    s.Text(1, after).Int(2, limit);
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) ids.push_back(s.ColText(0));
    if (rc != SQLITE_DONE) return Fail("list devices", r.db);
  }
  return store_rules::DevicesById(*this, ids);
}

Status SqliteStore::WriteDeviceRow(const DeviceRecord& d) {
  Stmt s(cache_, db_,
         "INSERT OR REPLACE INTO devices (device_id, hardware_model, ek_public, "
         "ek_certificate, ak_public, release_version, state, updated_at, release_id, "
         "agent_address, certificate_serial, recovery_public_key) "
         "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)");
  s.Text(1, d.device_id).Text(2, d.hardware_model).Blob(3, d.ek_public);
  s.Blob(4, d.ek_certificate).Blob(5, d.ak_public).Text(6, d.release_version);
  s.Text(7, d.state).Int(8, d.updated_at).Text(9, d.release_id).Text(10, d.agent_address);
  s.Text(11, d.certificate_serial).Blob(12, d.recovery_public_key);
  return Done(s, "store device");
}

Result<std::optional<DeviceRecord>> SqliteStore::ReadDevice(const std::string& id) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db,
         "SELECT d.device_id, hardware_model, ek_public, ek_certificate, ak_public, "
         "release_version, state, COALESCE(s.reset_count, 0), COALESCE(s.clock, 0), "
         "updated_at, release_id, agent_address, certificate_serial, recovery_public_key "
         "FROM devices d LEFT JOIN device_state s ON s.device_id = d.device_id "
         "WHERE d.device_id = ?");
  s.Text(1, id);
  const int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<DeviceRecord>();
  if (rc != SQLITE_ROW) return Fail("read device", r.db);
  DeviceRecord d;
  d.device_id = s.ColText(0);
  d.hardware_model = s.ColText(1);
  d.ek_public = s.ColBlob(2);
  d.ek_certificate = s.ColBlob(3);
  d.ak_public = s.ColBlob(4);
  d.release_version = s.ColText(5);
  d.state = s.ColText(6);
  d.reset_count = static_cast<uint32_t>(s.ColInt(7));
  d.clock = static_cast<uint64_t>(s.ColInt(8));
  d.updated_at = s.ColInt(9);
  d.release_id = s.ColText(10);
  d.agent_address = s.ColText(11);
  d.certificate_serial = s.ColText(12);
  d.recovery_public_key = s.ColBlob(13);
  return std::optional<DeviceRecord>(std::move(d));
}

void SqliteStore::ForgetDevices() {
  MutexLock lock(devices_.mu);
  devices_.records.clear();
  ++devices_.generation;
}

void SqliteStore::NoteCommitsOfOthers() {
  int64_t version = -1;
  {
    Stmt s(cache_, db_, "PRAGMA data_version");
    if (s.ok() && s.Step() == SQLITE_ROW) version = s.ColInt(0);
  }
  if (version < 0 || version != data_version_) ForgetDevices();
  data_version_ = version;
  others_checked_ms_.store(env_->SteadyMillis(), std::memory_order_relaxed);
}

void SqliteStore::NoteAppraisalsCommitted(const std::vector<PendingAppraisal>& batch,
                                          const std::vector<Result<int64_t>>& results) {
  NoteCommitsOfOthers();
  MutexLock lock(devices_.mu);
  ++devices_.clock_epoch;
  for (size_t i = 0; i < batch.size(); ++i) {
    const AppraisalRecord& a = batch[i].record;
    if (!results[i].ok() || !a.advance_clock) continue;
    auto it = devices_.records.find(a.device_id);
    if (it == devices_.records.end()) continue;
    DeviceRecord& d = it->second;
    if (d.reset_count < a.reset_count || (d.reset_count == a.reset_count && d.clock < a.clock)) {
      d.reset_count = a.reset_count;
      d.clock = a.clock;
    }
  }
}

}  // namespace henbtrust::sqlite
