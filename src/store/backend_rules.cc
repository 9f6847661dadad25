#include "store/backend_rules.h"

namespace henbtrust::store_rules {

AuditEntry ChainAfter(const AuditHead& head, const AuditEntry& entry) {
  AuditEntry e = entry;
  e.seq = head.seq + 1;
  e.prev_hash = head.hash;
  e.hash = AuditHash(e.prev_hash, e);
  return e;
}

AuditEntry AuditOfNewJob(const AuditEntry& audit, int64_t job_id) {
  AuditEntry a = audit;
  if (a.subject.empty()) a.subject = "job:" + std::to_string(job_id);
  return a;
}

Error MemberTaken(int64_t campaign_id, const std::string& device_id) {
  return Error(
      ErrorCode::kPolicyJobConflict,
      "device " + device_id + " already has its job of campaign " + std::to_string(campaign_id));
}

AuditEntry AuditOfNewCampaign(const AuditEntry& audit, int64_t campaign_id) {
  AuditEntry a = audit;
  if (a.subject.empty()) a.subject = "campaign:" + std::to_string(campaign_id);
  return a;
}

Status CheckReenrollment(const DeviceRecord& device, ByteView enrolled_ek,
                         const std::string& enrolled_state, ByteView enrolled_recovery_key) {
  if (!Equal(enrolled_ek, device.ek_public)) {
    return Error(ErrorCode::kPolicyDeviceConflict,
                 "device " + device.device_id + " is enrolled with another EK");
  }
  if (!enrolled_recovery_key.empty() && !Equal(enrolled_recovery_key, device.recovery_public_key)) {
    return Error(ErrorCode::kPolicyDeviceConflict,
                 "device " + device.device_id + " is enrolled with another recovery key");
  }
  if (enrolled_state == kDeviceRevoked) {
    return Error(ErrorCode::kPolicyEnrollment,
                 "device " + device.device_id + " was revoked; it may not enroll again");
  }
  if (enrolled_state == kDeviceDecommissioned) {
    return Error(ErrorCode::kPolicyEnrollment,
                 "device " + device.device_id + " was decommissioned; it may not enroll again");
  }
  return OkStatus();
}

Status CheckRenewal(const std::string& device_id, const std::string& state,
                    const std::string& stored_serial, const std::string& from_serial) {
  if (state == kDeviceRevoked || state == kDeviceDecommissioned) {
    return Error(ErrorCode::kNetUnauthenticated,
                 "device " + device_id + " was " + state + "; its certificate is not renewed");
  }
  if (stored_serial != from_serial) {
    return Error(ErrorCode::kPolicyDeviceConflict,
                 "the certificate of " + device_id + " was replaced meanwhile (now " +
                     (stored_serial.empty() ? std::string("none") : stored_serial) + ")");
  }
  return OkStatus();
}

Status CheckDecommission(const std::string& device_id, const std::string& state) {
  if (state == kDeviceDecommissioned) {
    return Error(ErrorCode::kPolicyState, "device " + device_id + " is decommissioned already");
  }
  return OkStatus();
}

std::string RevocationReason(const std::string& reason) {
  return reason.empty() ? "revoked" : reason;
}

Error NoSuchDevice(const std::string& device_id) {
  return Error(ErrorCode::kNotFound, "no device " + device_id);
}

Error NoSuchRelease(const std::string& release_id, const std::string& version) {
  return Error(ErrorCode::kNotFound, "no release " + release_id + " " + version);
}

Result<std::vector<DeviceRecord>> DevicesById(Store& store, const std::vector<std::string>& ids) {
  std::vector<DeviceRecord> out;
  for (const auto& id : ids) {
    HENB_ASSIGN_OR_RETURN(auto d, store.GetDevice(id));
    if (d) out.push_back(std::move(*d));
  }
  return out;
}

}  // namespace henbtrust::store_rules
