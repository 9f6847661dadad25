#include "henbtrust/agent/watchdog_agent.h"

#include <algorithm>

#include "henbtrust/agent/agent.h"
#include "henbtrust/crypto/random.h"
#include "henbtrust/net/ticket_protocol.h"

namespace henbtrust {

namespace {

constexpr uint64_t kMsPerSecond = 1000;

Error Refused(const std::string& what, const HttpResponse& r) {
  return Error(ErrorCode::kNetStatus,
               what + ": HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 300));
}

std::string EffectText(TicketEffect effect) {
  switch (effect) {
    case TicketEffect::kDeferred:
      return "deferred";
    case TicketEffect::kLeftRecovery:
      return "left recovery: the normal slot measures to the affirmed TIM";
    case TicketEffect::kRecover:
      return "the OAM ordered recovery";
    case TicketEffect::kTimMismatch:
      return "staying in recovery: the normal slot does not measure to the OAM's TIM";
  }
  return "";
}

}  // namespace

WatchdogAgent::WatchdogAgent(HttpChannel& oam, HttpChannel& pve, Device& device,
                             RecoveryEndpoint recovery, std::string device_id, WatchdogRetry retry)
    : oam_(oam),
      pve_(pve),
      device_(device),
      endpoint_(std::move(recovery)),
      device_id_(std::move(device_id)),
      retry_(retry) {
  endpoint_.config.recovery = true;
}

WatchdogAgent::~WatchdogAgent() { DropRecoveryLink(); }

Result<std::string> WatchdogAgent::Round() {
  if (device_.boot_stage() == nullptr) return std::string();
  if (device_.mode() == DeviceMode::kRecovery) return RecoveryRound();
  DropRecoveryLink();  // the normal OS keeps nothing of the recovery image's
  return RenewTicket();
}

Result<UpdateAgent*> WatchdogAgent::RecoveryAgent() {
  if (recovery_agent_) return recovery_agent_.get();
  HENB_ASSIGN_OR_RETURN(Device::RecoveryTlsPems pems, device_.RecoveryTls());
  const TlsConfig identity{pems.certificate_pem, pems.private_key_pem, endpoint_.ca_pem};
  if (endpoint_.connect) {
    HENB_ASSIGN_OR_RETURN(recovery_client_, endpoint_.connect(identity));
  } else {
    HENB_ASSIGN_OR_RETURN(recovery_client_, HttpClient::Connect(endpoint_.host, endpoint_.port,
                                                                identity, endpoint_.client));
  }
  recovery_agent_ = std::make_unique<UpdateAgent>(*recovery_client_, pve_, device_,
                                                  endpoint_.oam_key, endpoint_.config);
  return recovery_agent_.get();
}

void WatchdogAgent::DropRecoveryLink() {
  recovery_agent_.reset();  // it holds the client: first
  recovery_client_.reset();
}

Result<std::string> WatchdogAgent::RenewTicket(bool force) {
  const BootStage* stage = device_.boot_stage();
  if (stage == nullptr || device_.mode() == DeviceMode::kRecovery) return std::string();
  HENB_ASSIGN_OR_RETURN(ClockInfo clock, device_.tre().ReadClock());
  const bool minimal = device_.mode() == DeviceMode::kMinimal;
  if (!force && !minimal) {
    const uint64_t half = static_cast<uint64_t>(stage->state().period) * kMsPerSecond / 2;
    const uint64_t deadline = stage->state().deadline_ms;
    if (deadline > clock.clock && deadline - clock.clock > half) return std::string();
  }
  // After a failed attempt, in either mode: not before the backoff ends.
  if (!force && clock.clock < next_attempt_ms_) return std::string();
  auto renewed = AskForTicket();
  if (renewed.ok()) {
    failures_ = 0;
    next_attempt_ms_ = 0;
  } else {
    // Backoff with jitter before the next attempt.
    ++failures_;
    int64_t wait = retry_.retry_cap;
    if (failures_ <= 16) wait = std::min(retry_.retry_cap, retry_.retry_base << (failures_ - 1));
    auto random = RandomBytes(2);
    const uint64_t jitter = random.ok() ? ((*random)[0] << 8 | (*random)[1]) : 0;  // 0..65535
    const uint64_t wait_ms = static_cast<uint64_t>(wait) * kMsPerSecond;
    next_attempt_ms_ = clock.clock + wait_ms / 2 + wait_ms / 2 * jitter / 65536;
  }
  return renewed;
}

Result<std::string> WatchdogAgent::AskForTicket() {
  const bool minimal = device_.mode() == DeviceMode::kMinimal;
  HENB_ASSIGN_OR_RETURN(Bytes challenge, device_.TicketChallenge());
  // The OAM defers only on a recent affirming appraisal: one first.
  HENB_ASSIGN_OR_RETURN(HttpResponse appraised, AttestOnce(pve_, device_.tre()));
  if (appraised.status != 200) return Refused("attestation for a ticket", appraised);
  const TicketRequest request{challenge, std::string(DeviceModeName(device_.mode())), "", {}};
  HENB_ASSIGN_OR_RETURN(HttpResponse r, oam_.Request("POST", "/v1/agent/ticket", "application/json",
                                                     EncodeTicketRequest(request)));
  if (r.status != 200) return Refused("ticket", r);
  auto answer = DecodeTicketAnswer(r.body);
  if (!answer.ok()) {
    return Error(ErrorCode::kNetStatus, "the OAM's ticket answer: " + answer.error().message());
  }
  HENB_ASSIGN_OR_RETURN(TicketEffect effect, device_.AcceptTicket(answer->ticket, device_id_));
  return minimal ? "ticket: left minimal mode, back in normal service"
                 : "ticket: " + EffectText(effect);
}

Result<std::string> WatchdogAgent::RecoveryRound() {
  const BootStage* stage = device_.boot_stage();
  if (stage == nullptr || device_.mode() != DeviceMode::kRecovery) return std::string();
  // A recover job under way (both slots written, its trial booted or to
  // boot): carried on, without a contact until it has ended.
  const UpdateJournal& journal = device_.journal();
  if (journal.both_slots &&
      (journal.phase == UpdatePhase::kInstalled || journal.phase == UpdatePhase::kTrialGood)) {
    HENB_ASSIGN_OR_RETURN(UpdateAgent * agent, RecoveryAgent());
    HENB_ASSIGN_OR_RETURN(PollOutcome polled, agent->PollOnce());
    return "recovery: " + polled.ToString();
  }
  // The contact is made from the recovery image, with a quote of its boot.
  if (device_.boot_control().booted != "recovery") HENB_TRY(device_.Boot());
  const auto image = device_.SlotManifest("recovery");
  if (!image) return Error(ErrorCode::kDeviceState, "the recovery slot holds no release");
  HENB_ASSIGN_OR_RETURN(Bytes challenge, device_.TicketChallenge());
  TicketRequest request{challenge, "recovery", stage->state().reason, {}};
  if (auto tim = device_.LocalTim(device_.boot_control().active); tim.ok()) {
    request.local_tim = std::move(tim).value();
  }
  request.recovery_release_id = image->release_id;
  request.recovery_version = image->version;
  HENB_ASSIGN_OR_RETURN(request.evidence,
                        EvidenceJson(device_.tre(), challenge, {PlanSelection(*image)}));
  Result<HttpResponse> r = Error(ErrorCode::kNet, "");
  if (auto agent = RecoveryAgent(); !agent.ok()) {
    r = agent.error();
  } else {
    r = recovery_client_->Request("POST", "/v1/recovery/contact", "application/json",
                                  EncodeTicketRequest(request));
  }
  if (!r.ok()) DropRecoveryLink();  // made again at the next contact
  // Out of reach (no answer, or a server error: nothing refused): the
  // local check decides between minimal mode and staying in recovery.
  if (!r.ok() || r->status >= 500) {
    const std::string why = r.ok() ? "HTTP " + std::to_string(r->status) : r.error().ToString();
    HENB_ASSIGN_OR_RETURN(bool minimal, device_.EnterMinimalMode());
    return minimal ? "OAM out of reach (" + why +
                         "): the normal slot is intact, serving in minimal mode"
                   : "OAM out of reach (" + why +
                         "): the normal slot does not measure to the last affirmed TIM, "
                         "staying in recovery";
  }
  if (r->status != 200) return Refused("recovery contact", *r);
  auto answer = DecodeTicketAnswer(r->body);
  if (!answer.ok()) {
    return Error(ErrorCode::kNetStatus, "the OAM's contact answer: " + answer.error().message());
  }
  // Asked to update itself: done first, while the recovery image runs. A
  // failure is said and does not hold up the recovery.
  std::string image_update;
  if (!answer->recovery_image_release_id.empty()) {
    auto updated = recovery_agent_->UpdateRecoveryImage(answer->recovery_image_release_id,
                                                        answer->recovery_image_version);
    if (!updated.ok()) {
      image_update = "; recovery image not updated: " + updated.error().ToString();
    } else {
      // The new image runs from the next boot on: now. The next round
      // contacts the OAM again from it, with a fresh challenge and a quote
      // of the new image (this answer's ticket may be late after a long
      // update).
      HENB_TRY(device_.Boot());
      return "recovery: image updated to " + updated->version +
             "; contacting the OAM again from it";
    }
  }
  HENB_ASSIGN_OR_RETURN(TicketEffect effect, device_.AcceptTicket(answer->ticket, device_id_));
  if (effect == TicketEffect::kLeftRecovery) {
    DropRecoveryLink();
    // Back in the normal slot: attested at once, so that the PVE's latest
    // appraisal (and the SeGW's decision) is of what runs now, not of the
    // recovery image; and a ticket asked for from it, which shows the OAM
    // that the device is back (until then it keeps it in recovery).
    HENB_TRY(RenewTicket(/*force=*/true));
  }
  if (effect != TicketEffect::kRecover) return "recovery: " + EffectText(effect) + image_update;
  HENB_ASSIGN_OR_RETURN(PollOutcome polled, recovery_agent_->PollOnce());
  return "recovery: job " + std::to_string(answer->job) + ": " + polled.ToString() + image_update;
}

}  // namespace henbtrust
