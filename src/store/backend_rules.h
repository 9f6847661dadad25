// Private to the Store backends: what SQLite and PostgreSQL decide the same
// way, apart from their SQL, so that the two keep one behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/store/store.h"

namespace henbtrust::store_rules {

// The last entry of the audit chain, or {0, 32 zero bytes} when it is empty.
struct AuditHead {
  int64_t seq = 0;
  Bytes hash = Bytes(32, 0);
};

// `entry` as appended after `head`: seq, prev_hash and hash are set.
AuditEntry ChainAfter(const AuditHead& head, const AuditEntry& entry);

// The audit entry of a new job with id `job_id`: its subject names the job
// unless the caller named one.
AuditEntry AuditOfNewJob(const AuditEntry& audit, int64_t job_id);
// A campaign's member that already has a job or a refusal: kPolicyJobConflict.
Error MemberTaken(int64_t campaign_id, const std::string& device_id);
// The same for a new campaign: "campaign:<id>".
AuditEntry AuditOfNewCampaign(const AuditEntry& audit, int64_t campaign_id);

// Whether `device` may be enrolled again over the record enrolled with
// `enrolled_ek` in state `enrolled_state` with `enrolled_recovery_key`:
// kPolicyDeviceConflict for another EK or another recovery key (once one
// is recorded, it stays), kPolicyEnrollment for a revoked device.
Status CheckReenrollment(const DeviceRecord& device, ByteView enrolled_ek,
                         const std::string& enrolled_state, ByteView enrolled_recovery_key);

// Whether the record read in a renewal's transaction (its `state` and
// `stored_serial`) still lets the certificate `from_serial` be replaced:
// kNetUnauthenticated for a revoked or decommissioned device,
// kPolicyDeviceConflict when the serial changed meanwhile.
Status CheckRenewal(const std::string& device_id, const std::string& state,
                    const std::string& stored_serial, const std::string& from_serial);
// Whether a device in `state` may be decommissioned: kPolicyState if it is already.
Status CheckDecommission(const std::string& device_id, const std::string& state);

// The reason stored for a revoked release: "revoked" when none is given.
std::string RevocationReason(const std::string& reason);

// The kNotFound errors of updates that found no row.
Error NoSuchDevice(const std::string& device_id);
Error NoSuchRelease(const std::string& release_id, const std::string& version);

// The records of `ids` as store.GetDevice reads them, in order; ids with no
// record (removed meanwhile) are left out.
Result<std::vector<DeviceRecord>> DevicesById(Store& store, const std::vector<std::string>& ids);

}  // namespace henbtrust::store_rules
