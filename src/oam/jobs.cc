// Opening update jobs (step 1) and moving them through the job machine.
#include <algorithm>

#include "henbtrust/crypto/random.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/protocol.h"
#include "oam/oam_impl.h"

namespace henbtrust {

namespace {

constexpr size_t kOrderNonceBytes = 32;

}  // namespace

Result<UpdateJob> OamService::Impl::OpenJob(const std::string& device_id,
                                            const std::string& release_id,
                                            const std::string& version, const std::string& actor,
                                            JobKind kind, int64_t campaign_id) {
  if (!api::IsValidDeviceId(device_id)) return api::BadRequest("malformed device id");
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(device_id));
  if (!device) return Error(ErrorCode::kPolicyUnknownDevice, "no enrolled device " + device_id);
  bool revoked = false;
  HENB_ASSIGN_OR_RETURN(ReleaseManifest target, LoadManifest(release_id, version, &revoked));
  if (revoked) {
    return Error(ErrorCode::kPolicy, "release " + release_id + " " + version + " is revoked");
  }
  if (std::find(target.hardware_models.begin(), target.hardware_models.end(),
                device->hardware_model) == target.hardware_models.end()) {
    return Error(ErrorCode::kPolicy, "release " + release_id + " " + version +
                                         " is not for hardware model " + device->hardware_model);
  }
  // A reinstall or recover of the release the device should run is the
  // point of remediation; an update to it would change nothing.
  if (kind == JobKind::kUpdate && device->release_id == release_id &&
      device->release_version == version) {
    return Error(ErrorCode::kPolicy, "device " + device_id + " already runs " + version +
                                         " (to install it again: a reinstall job)");
  }
  // No downgrade orders: a target whose release counter is below that of the
  // device's recorded release is refused here, not only by the device's
  // anti-rollback floor. An equal counter passes (the floor accepts it: a
  // re-issue of the same level).
  auto current = LoadManifest(device->release_id, device->release_version);
  if (!current.ok() && current.error().code() == ErrorCode::kPolicyUnknownRelease) {
    return Error(ErrorCode::kPolicy, "device " + device_id + " runs " + device->release_id + " " +
                                         device->release_version +
                                         ", which is not in the catalogue: its release counter "
                                         "is unknown, so a downgrade cannot be ruled out");
  }
  if (!current.ok()) return current.error();
  if (target.release_counter < current->release_counter) {
    return Error(ErrorCode::kPolicy,
                 "release " + release_id + " " + version + " (release counter " +
                     std::to_string(target.release_counter) + ") is a downgrade for device " +
                     device_id + ", which runs " + device->release_id + " " +
                     device->release_version + " (release counter " +
                     std::to_string(current->release_counter) + ")");
  }
  const int64_t now = config.now();
  UpdateJob job;
  job.device_id = device_id;
  job.release_id = release_id;
  job.version = version;
  job.from_release_id = device->release_id;
  job.from_version = device->release_version;
  job.kind = kind;
  job.state = JobState::kOpened;
  job.expected_tim = ExpectedTim(target);  // step 5's value, fixed at step 1 from the manifest
  job.deadline = now + config.order_ttl;
  job.next_action_at = now;
  job.detail = kind == JobKind::kUpdate
                   ? "waiting for an affirming appraisal (steps 2-4)"
                   : std::string(JobKindName(kind)) + ": the order is signed without an appraisal";
  job.created_at = job.updated_at = now;
  HENB_ASSIGN_OR_RETURN(
      job.id, store.CreateJob(job,
                              AuditEntry{0,
                                         now,
                                         actor,
                                         "",
                                         "opened",
                                         device_id + ": " + std::string(JobKindName(kind)) + " " +
                                             job.from_version + " -> " + version,
                                         {},
                                         {}},
                              campaign_id));
  return job;
}

Result<bool> OamService::Impl::Advance(UpdateJob& job, JobEvent event, const std::string& actor) {
  const JobState from = job.state;
  HENB_ASSIGN_OR_RETURN(JobTransition t, ApplyJobEvent(job, event));
  job.updated_at = config.now();
  HENB_ASSIGN_OR_RETURN(bool moved,
                        store.TransitionJob(job, from,
                                            AuditEntry{0,
                                                       job.updated_at,
                                                       actor,
                                                       "job:" + std::to_string(job.id),
                                                       std::string(t.audit_event),
                                                       job.device_id + ": " + job.detail,
                                                       {},
                                                       {}}));
  if (moved) transitions.fetch_add(1, std::memory_order_relaxed);
  return moved;
}

Status OamService::Impl::Touch(UpdateJob& job, const std::optional<AuditEntry>& audit) {
  job.updated_at = config.now();
  HENB_ASSIGN_OR_RETURN(bool moved, store.TransitionJob(job, job.state, audit));
  (void)moved;  // another writer moved it: its change stands
  return OkStatus();
}

Status OamService::Impl::Instruct(UpdateJob& job, JobState state, bool new_nonce) const {
  const int64_t now = config.now();
  if (new_nonce || job.order_nonce.empty()) {
    HENB_ASSIGN_OR_RETURN(job.order_nonce, RandomBytes(kOrderNonceBytes));
  }
  DeploymentOrder order{job.id,
                        ActionFor(state, job.kind),
                        job.device_id,
                        job.release_id,
                        job.version,
                        job.expected_tim,
                        job.order_nonce,
                        now,
                        now + config.order_ttl};
  HENB_ASSIGN_OR_RETURN(job.order, SignDeploymentOrder(order, config.order_key));
  job.deadline = now + config.order_ttl;
  job.next_action_at = job.deadline;
  return OkStatus();
}

}  // namespace henbtrust
