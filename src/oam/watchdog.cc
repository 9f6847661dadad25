// The OAM's side of the watchdog (docs/recovery.md): deferral tickets for
// devices whose latest appraisal is affirming and recent, and the recovery
// image's contact, which either lets an intact device go back to service or
// gives it a recover job. Every ticket is bound to the device's challenge;
// the boot stage does the rest.
#include <algorithm>

#include "henbtrust/crypto/digest.h"
#include "henbtrust/device/boot_stage.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/ticket_protocol.h"
#include "oam/oam_impl.h"

namespace henbtrust {

namespace {

constexpr char kActor[] = "oam:watchdog";
constexpr char kAffirming[] = "affirming";

}  // namespace

Result<int64_t> OamService::Impl::TicketPeriodFor(const std::string& hardware_model) {
  HENB_ASSIGN_OR_RETURN(auto policy, store.GetModelPolicy(hardware_model));
  if (policy && policy->ticket_period > 0) return policy->ticket_period;
  return config.ticket_period;
}

Result<WatchdogRecord> OamService::Impl::WatchdogOf(const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(auto row, store.GetWatchdog(device_id));
  if (row) return *row;
  WatchdogRecord fresh;
  fresh.device_id = device_id;
  return fresh;
}

Result<TicketAnswer> OamService::Impl::SignTicket(const DeferralTicket& ticket, WatchdogRecord& row,
                                                  std::string detail) const {
  HENB_ASSIGN_OR_RETURN(std::string token, SignDeferralTicket(ticket, config.order_key));
  TicketAnswer answer{ticket.verdict, std::move(token), 0, 0, 0, std::move(detail)};
  row.last_ticket_at = ticket.issued_at;
  row.updated_at = ticket.issued_at;
  if (ticket.verdict == TicketVerdict::kDefer) {
    answer.period = ticket.period;
    answer.deadline = ticket.issued_at + ticket.period;
    row.deadline = answer.deadline;
    row.last_ticket = "defer on appraisal " + std::to_string(ticket.appraisal);
  } else {
    row.last_ticket = "recover: " + ticket.reason;
  }
  return answer;
}

Result<HttpResponse> OamService::Impl::TicketApi(const HttpRequest& req) {
  if (req.body.size() > kMaxTicketRequestBytes) {
    return Error(ErrorCode::kNetTooLarge, "ticket request too large");
  }
  HENB_TRY(api::RequireJsonContent(req));
  HENB_ASSIGN_OR_RETURN(TicketRequest request, DecodeTicketRequest(req.body));
  if (request.mode == "recovery") {
    return api::BadRequest("a device in recovery asks POST /v1/recovery/contact");
  }
  const std::string& id = req.peer.common_name;
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(id));
  if (!device) return Error(ErrorCode::kPolicyUnknownDevice, "no enrolled device " + id);
  const int64_t now = config.now();
  HENB_ASSIGN_OR_RETURN(WatchdogRecord row, WatchdogOf(id));
  DeferralTicket ticket{id, request.nonce, TicketVerdict::kDefer, 0, {}, 0, {}, now};

  // An open recover job: the device is told, in a signed refusal, to go to
  // its recovery image, which carries the job out. A hostile OS drops the
  // refusal; then the deadline passes all the same.
  HENB_ASSIGN_OR_RETURN(auto job, store.OpenJobFor(id));
  if (job && job->kind == JobKind::kRecover) {
    ticket.verdict = TicketVerdict::kRecover;
    ticket.reason = "recover job " + std::to_string(job->id) + " to " + job->version;
    HENB_ASSIGN_OR_RETURN(TicketAnswer answer, SignTicket(ticket, row, ticket.reason));
    answer.job = job->id;
    HENB_TRY(store.PutWatchdog(row, std::nullopt));
    return api::JsonText(200, EncodeTicketAnswer(answer));
  }
  // Otherwise a deferral, only on a recent affirming appraisal. Anything
  // else is no ticket (and no refusal either: the watchdog decides).
  HENB_ASSIGN_OR_RETURN(int64_t period, TicketPeriodFor(device->hardware_model));
  HENB_ASSIGN_OR_RETURN(auto latest, pve.Latest(id));
  if (!latest) {
    return Error(ErrorCode::kPolicyTicket, "no ticket: the PVE has never appraised " + id);
  }
  if (latest->status != kAffirming || latest->tim.empty()) {
    return Error(ErrorCode::kPolicyTicket, "no ticket: the latest appraisal of " + id + " (" +
                                               std::to_string(latest->appraisal_id) + ") is " +
                                               latest->status);
  }
  const int64_t freshness = std::min(config.ticket_freshness, period);
  if (latest->appraised_at < now - freshness) {
    return Error(ErrorCode::kPolicyTicket, "no ticket: the latest affirming appraisal of " + id +
                                               " is " + std::to_string(now - latest->appraised_at) +
                                               " s old (at most " + std::to_string(freshness) +
                                               "); attest, then ask again");
  }
  // The PVE saw the boot stage measure this OAM's ticket key: a watchdog
  // that answers to another key is not deferred by this one.
  const std::string own_key = HexEncode(Sha256(config.order_key.Public().ToDer()));
  if (latest->ticket_key != own_key) {
    return Error(ErrorCode::kPolicyTicket,
                 "no ticket: the latest appraisal of " + id +
                     (latest->ticket_key.empty()
                          ? " shows no boot stage measurement (its evidence had no PCR " +
                                std::to_string(kBootStagePcr) + " quote)"
                          : " shows a boot stage trusting another ticket key (sha256:" +
                                latest->ticket_key + ")"));
  }
  ticket.appraisal = latest->appraisal_id;
  ticket.tim = latest->tim;
  ticket.period = period;
  std::optional<AuditEntry> audit;
  if (row.mode != "normal" || request.mode != "normal") {
    const std::string left = request.mode != "normal" ? request.mode : row.mode;
    audit =
        AuditEntry{0,
                   now,
                   kActor,
                   "device:" + id,
                   left == "recovery" ? "device left recovery" : "device left " + left + " mode",
                   id + ": deferral on affirming appraisal " + std::to_string(latest->appraisal_id),
                   {},
                   {}};
  }
  HENB_ASSIGN_OR_RETURN(TicketAnswer answer, SignTicket(ticket, row, "deferred"));
  row.mode = "normal";
  HENB_TRY(store.PutWatchdog(row, audit));
  return api::JsonText(200, EncodeTicketAnswer(answer));
}

Result<std::pair<std::string, std::string>> OamService::Impl::RecoveryTarget(
    const DeviceRecord& device) {
  HENB_ASSIGN_OR_RETURN(auto policy, store.GetModelPolicy(device.hardware_model));
  if (policy && !policy->recovery_release_id.empty()) {
    return std::make_pair(policy->recovery_release_id, policy->recovery_version);
  }
  bool revoked = false;
  HENB_ASSIGN_OR_RETURN(ReleaseManifest current,
                        LoadManifest(device.release_id, device.release_version, &revoked));
  if (revoked) {
    return Error(ErrorCode::kPolicy,
                 "device " + device.device_id + " is recorded on " + device.release_id + " " +
                     device.release_version + ", which is revoked, and hardware model " +
                     device.hardware_model +
                     " has no recovery release (henbtrust server watchdog --model " +
                     device.hardware_model + " --recovery-release ID VERSION)");
  }
  return std::make_pair(current.release_id, current.version);
}

Result<int64_t> OamService::Impl::VerifyRecoveryBoot(const DeviceRecord& device,
                                                     const TicketRequest& request) {
  const std::string& id = device.device_id;
  auto refuse = [&](const std::string& why) -> Error {
    return Error(ErrorCode::kPolicyTicket, "the contact of " + id + " is refused: " + why);
  };
  if (request.evidence.empty()) return refuse("it carries no evidence of a recovery boot");
  HENB_ASSIGN_OR_RETURN(ReleaseManifest image,
                        LoadManifest(request.recovery_release_id, request.recovery_version));
  if (std::find(image.hardware_models.begin(), image.hardware_models.end(),
                device.hardware_model) == image.hardware_models.end()) {
    return refuse("release " + image.release_id + " " + image.version + " is not for " +
                  device.hardware_model);
  }
  // The PVE verifies the quote (this device's AK, the challenge as nonce,
  // the log); its TIM must be a recovery boot of that release, which only
  // the boot stage in recovery mode produces. (Revocation does not matter
  // here: the image only fetches and verifies a release.)
  HENB_ASSIGN_OR_RETURN(
      UpdateVerdict verdict,
      pve.AppraiseUpdate(id, request.evidence, image.release_id, image.version, request.nonce));
  // The marker names the key the boot stage holds: this OAM's.
  const Bytes key_digest = Sha256(config.order_key.Public().ToDer());
  if (verdict.tim != HexEncode(RecoveryBootTim(image, key_digest)) || verdict.appraisal_id == 0) {
    return refuse("its evidence is not a boot of the recovery image " + image.release_id + " " +
                  image.version + " under this OAM's ticket key (" +
                  (verdict.detail.empty() ? verdict.status : verdict.detail) + ")");
  }
  return verdict.appraisal_id;
}

Result<std::optional<std::pair<std::string, std::string>>> OamService::Impl::RecoveryImageTarget(
    const DeviceRecord& device, const TicketRequest& request) {
  using Target = std::optional<std::pair<std::string, std::string>>;
  HENB_ASSIGN_OR_RETURN(auto policy, store.GetModelPolicy(device.hardware_model));
  if (!policy || policy->recovery_release_id.empty()) return Target();
  if (policy->recovery_release_id == request.recovery_release_id &&
      policy->recovery_version == request.recovery_version) {
    return Target();
  }
  // Never an older image than the one the device has (its boot stage would
  // refuse it anyway), nor a revoked one.
  bool revoked = false;
  auto wanted = LoadManifest(policy->recovery_release_id, policy->recovery_version, &revoked);
  auto running = LoadManifest(request.recovery_release_id, request.recovery_version);
  if (!wanted.ok() || revoked || !running.ok() ||
      wanted->release_counter < running->release_counter) {
    return Target();
  }
  return Target(std::make_pair(policy->recovery_release_id, policy->recovery_version));
}

Result<HttpResponse> OamService::Impl::RecoveryContactApi(const HttpRequest& req) {
  if (req.body.size() > kMaxContactBytes) {
    return Error(ErrorCode::kNetTooLarge, "contact too large");
  }
  HENB_TRY(api::RequireJsonContent(req));
  HENB_ASSIGN_OR_RETURN(TicketRequest request, DecodeTicketRequest(req.body));
  if (request.mode != "recovery") {
    return api::BadRequest("the recovery endpoint is for devices in recovery");
  }
  const std::string& id = req.peer.common_name;
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(id));
  if (!device) return Error(ErrorCode::kPolicyUnknownDevice, "no enrolled device " + id);
  const int64_t now = config.now();
  HENB_ASSIGN_OR_RETURN(int64_t appraisal, VerifyRecoveryBoot(*device, request));
  HENB_ASSIGN_OR_RETURN(WatchdogRecord row, WatchdogOf(id));
  if (row.mode != "recovery") {
    // Recorded on the first contact from recovery, with why.
    row.mode = "recovery";
    row.reason = request.reason.empty() ? std::string("not said") : request.reason;
    row.updated_at = now;
    HENB_TRY(store.PutWatchdog(
        row, AuditEntry{0,
                        now,
                        kActor,
                        "device:" + id,
                        "device entered recovery",
                        id + ": " + row.reason + "; recovery image " + request.recovery_release_id +
                            " " + request.recovery_version + " verified (appraisal " +
                            std::to_string(appraisal) + ")",
                        {},
                        {}}));
  }
  HENB_ASSIGN_OR_RETURN(const auto image_target, RecoveryImageTarget(*device, request));
  // Every answer tells an outdated recovery image which release to become.
  auto answered = [&](TicketAnswer answer) {
    if (image_target) {
      answer.recovery_image_release_id = image_target->first;
      answer.recovery_image_version = image_target->second;
    }
    return api::JsonText(200, EncodeTicketAnswer(answer));
  };
  DeferralTicket ticket{id, request.nonce, TicketVerdict::kRecover, 0, {}, 0, {}, now};
  auto recover = [&](const UpdateJob& job) -> Result<HttpResponse> {
    ticket.reason = "recover job " + std::to_string(job.id) + " to " + job.version;
    HENB_ASSIGN_OR_RETURN(TicketAnswer answer, SignTicket(ticket, row, ticket.reason));
    answer.job = job.id;
    HENB_TRY(store.PutWatchdog(row, std::nullopt));
    return answered(std::move(answer));
  };

  HENB_ASSIGN_OR_RETURN(auto job, store.OpenJobFor(id));
  std::optional<std::pair<std::string, std::string>> target;
  if (job && job->kind == JobKind::kRecover) return recover(*job);
  if (job && job->state == JobState::kReported) {
    return Error(ErrorCode::kPolicyState,
                 "job " + std::to_string(job->id) + " is at step 9; contact again in a moment");
  }
  if (job) {
    // The recovery image carries out recover jobs only: this one ends, and
    // a recover job to its release takes its place.
    UpdateJob superseded = *job;
    superseded.detail = "superseded: the device came up in its recovery image (" + row.reason + ")";
    HENB_ASSIGN_OR_RETURN(bool moved, Advance(superseded, JobEvent::kSupersededByRecovery, kActor));
    if (!moved) return Error(ErrorCode::kPolicyState, "the device's job moved; contact again");
    target = std::make_pair(job->release_id, job->version);
  } else {
    // No job: an intact device goes back to service. Intact: the recovery
    // image (verified above) measured the normal slot to the expected TIM
    // of the device's recorded release, which is not revoked.
    bool revoked = false;
    auto recorded = LoadManifest(device->release_id, device->release_version, &revoked);
    if (recorded.ok() && !revoked && !request.local_tim.empty() &&
        request.local_tim == ExpectedTim(*recorded)) {
      HENB_ASSIGN_OR_RETURN(int64_t period, TicketPeriodFor(device->hardware_model));
      ticket.verdict = TicketVerdict::kDefer;
      ticket.appraisal = appraisal;
      ticket.tim = request.local_tim;
      ticket.period = period;
      HENB_ASSIGN_OR_RETURN(TicketAnswer answer,
                            SignTicket(ticket, row, "the normal slot is intact: back to service"));
      // The mode stays `recovery` until the device, back in its normal
      // slot, asks for a ticket itself (TicketApi audits that it left): a
      // deferral lost on the way does not show it as back.
      HENB_TRY(store.PutWatchdog(
          row, AuditEntry{0,
                          now,
                          kActor,
                          "device:" + id,
                          "recovery cleared",
                          id + ": its normal slot measures to the expected TIM of " +
                              device->release_id + " " + device->release_version,
                          {},
                          {}}));
      return answered(std::move(answer));
    }
    HENB_ASSIGN_OR_RETURN(target, RecoveryTarget(*device));
  }
  auto opened = OpenJob(id, target->first, target->second, kActor, JobKind::kRecover);
  if (!opened.ok()) {
    if (opened.error().code() != ErrorCode::kPolicyJobConflict) return opened.error();
    // Another contact opened one meanwhile.
    HENB_ASSIGN_OR_RETURN(auto now_open, store.OpenJobFor(id));
    if (!now_open || now_open->kind != JobKind::kRecover) return opened.error();
    return recover(*now_open);
  }
  return recover(*opened);
}

Status OamService::SetModelPolicy(const ModelPolicy& policy, const std::string& actor) {
  Impl& impl = *impl_;
  if (policy.hardware_model.empty() || policy.hardware_model.size() > 64) {
    return Error(ErrorCode::kInvalidArgument, "a hardware model is 1 to 64 characters");
  }
  if (policy.ticket_period < 0 || policy.ticket_period > kMaxTicketPeriodSeconds) {
    return Error(ErrorCode::kInvalidArgument, "the ticket period is 1 s to 30 days (0: default)");
  }
  std::string what = policy.hardware_model + ": ticket period " +
                     (policy.ticket_period == 0 ? std::string("default")
                                                : std::to_string(policy.ticket_period) + " s");
  if (!policy.recovery_release_id.empty()) {
    bool revoked = false;
    HENB_ASSIGN_OR_RETURN(ReleaseManifest m, impl.LoadManifest(policy.recovery_release_id,
                                                               policy.recovery_version, &revoked));
    if (revoked) {
      return Error(ErrorCode::kPolicy, "release " + policy.recovery_release_id + " " +
                                           policy.recovery_version + " is revoked");
    }
    if (std::find(m.hardware_models.begin(), m.hardware_models.end(), policy.hardware_model) ==
        m.hardware_models.end()) {
      return Error(ErrorCode::kPolicy, "release " + policy.recovery_release_id + " " +
                                           policy.recovery_version + " is not for hardware model " +
                                           policy.hardware_model);
    }
    what += ", recovery release " + policy.recovery_release_id + " " + policy.recovery_version;
  } else {
    what += ", recovery to each device's own release";
  }
  ModelPolicy stored = policy;
  stored.updated_at = impl.config.now();
  return impl.store.PutModelPolicy(stored, AuditEntry{0,
                                                      stored.updated_at,
                                                      actor,
                                                      "model:" + policy.hardware_model,
                                                      "watchdog policy set",
                                                      what,
                                                      {},
                                                      {}});
}

Result<ModelPolicy> OamService::GetModelPolicy(const std::string& hardware_model) {
  HENB_ASSIGN_OR_RETURN(auto policy, impl_->store.GetModelPolicy(hardware_model));
  if (!policy) {
    return Error(ErrorCode::kNotFound,
                 "hardware model " + hardware_model + " has no watchdog policy of its own");
  }
  return *policy;
}

}  // namespace henbtrust
