#include "henbtrust/device/boot_stage.h"

#include <nlohmann/json.hpp>

#include "henbtrust/core/decimal.h"
#include "henbtrust/core/json_fields.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/random.h"

namespace henbtrust {

namespace {

using Json = nlohmann::json;
namespace jf = json_fields;

constexpr size_t kMaxStateBytes = size_t{64} * 1024;
constexpr size_t kText = 4096;
constexpr uint64_t kMsPerSecond = 1000;

Error StateError(const std::string& what) { return Error(ErrorCode::kDeviceState, what); }

uint64_t PeriodMs(int64_t seconds) { return static_cast<uint64_t>(seconds) * kMsPerSecond; }

// A TrE clock value (milliseconds, the whole uint64 range a TPM allows),
// kept as decimal text: JSON readers take integers only up to 2^63.
Result<uint64_t> ClockField(const Json& j, const char* name) {
  HENB_ASSIGN_OR_RETURN(std::string text, jf::Text(j, name, 20));
  const auto value = ParseDecimal(text);
  if (!value) return Error(ErrorCode::kDeviceState, std::string("'") + name + "' is not a clock");
  return *value;
}

}  // namespace

Event RecoveryBootEvent(const ReleaseManifest& recovery, ByteView ticket_key_digest) {
  Event e;
  e.pcr = recovery.components.empty() ? 0 : recovery.components.front().pcr;
  e.type = event_type::kAction;
  e.data = ToBytes(std::string(kRecoveryBootMarker) +
                   "; ticket key sha256:" + HexEncode(ticket_key_digest));
  // The digest extended is the bitwise complement of the text's SHA-256: a
  // value no one knows a SHA-256 preimage of, so no component file a
  // normal boot measures can stand in for the marker.
  Bytes digest = Sha256(e.data);
  for (auto& b : digest) b = static_cast<uint8_t>(~b);
  e.digests.push_back({static_cast<uint16_t>(HashAlg::kSha256), std::move(digest)});
  return e;
}

Event NormalBootEvent(uint32_t pcr) {
  Event e;
  e.pcr = pcr;
  e.type = event_type::kSeparator;
  e.data = ToBytes(kNormalBootSeparator);
  e.digests.push_back({static_cast<uint16_t>(HashAlg::kSha256), Sha256(e.data)});
  return e;
}

Bytes RecoveryBootTim(const ReleaseManifest& recovery, ByteView ticket_key_digest) {
  EventLog log = EventLog::NewCryptoAgile({HashAlg::kSha256});
  if (!log.Append(RecoveryBootEvent(recovery, ticket_key_digest)).ok()) return {};
  const EventLog plan = PlanEventLog(recovery);
  for (const auto& e : plan.events()) {
    if (!log.Append(e).ok()) return {};
  }
  auto values = Replay(log);
  if (!values.ok()) return {};
  const PcrSelection sel = PlanSelection(recovery);
  return CompositeDigest((*values)[HashAlg::kSha256], sel);
}

bool IsRecoveryBootLog(const EventLog& log) {
  for (const auto& e : log.events()) {
    if (e.type == event_type::kAction && ToString(e.data).rfind(kRecoveryBootMarker, 0) == 0) {
      return true;
    }
  }
  return false;
}

std::string_view DeviceModeName(DeviceMode mode) {
  switch (mode) {
    case DeviceMode::kNormal:
      return "normal";
    case DeviceMode::kMinimal:
      return "minimal";
    case DeviceMode::kRecovery:
      return "recovery";
  }
  return "normal";
}

std::optional<DeviceMode> ParseDeviceMode(std::string_view name) {
  for (DeviceMode m : {DeviceMode::kNormal, DeviceMode::kMinimal, DeviceMode::kRecovery}) {
    if (DeviceModeName(m) == name) return m;
  }
  return std::nullopt;
}

std::string BootStage::StateFile() const { return dir_ + "/boot-stage/state.json"; }

Result<BootStage> BootStage::Provision(Env& env, const std::string& device_dir,
                                       const std::string& ticket_key_pem, int64_t period,
                                       Tre& tre) {
  if (period < 1 || period > kMaxTicketPeriodSeconds) {
    return Error(ErrorCode::kInvalidArgument, "the ticket period is 1 s to 30 days");
  }
  BootStage stage(env, device_dir);
  if (env.FileExists(stage.StateFile())) return StateError(device_dir + " has a boot stage");
  stage.state_.ticket_key_pem = ticket_key_pem;
  stage.state_.period = period;
  HENB_TRY(stage.LoadKey());
  HENB_TRY(env.CreateDirectories(device_dir + "/boot-stage"));
  HENB_ASSIGN_OR_RETURN(ClockInfo clock, tre.ReadClock());
  stage.state_.deadline_ms = clock.clock + PeriodMs(period);
  stage.state_.last_clock_ms = clock.clock;
  HENB_TRY(stage.Save());
  return stage;
}

Result<BootStage> BootStage::Open(Env& env, const std::string& device_dir) {
  BootStage stage(env, device_dir);
  if (!env.FileExists(stage.StateFile())) {
    return Error(ErrorCode::kNotFound, device_dir + " has no boot stage");
  }
  HENB_ASSIGN_OR_RETURN(Bytes raw, env.ReadFile(stage.StateFile(), kMaxStateBytes));
  auto read = [&]() -> Status {
    HENB_ASSIGN_OR_RETURN(Json j, jf::ParseObject(ToString(raw), "boot stage", kMaxStateBytes));
    BootStageState& s = stage.state_;
    HENB_ASSIGN_OR_RETURN(s.ticket_key_pem, jf::Text(j, "ticket_key", kText));
    HENB_ASSIGN_OR_RETURN(s.period, jf::Int(j, "period", 1, kMaxTicketPeriodSeconds));
    HENB_ASSIGN_OR_RETURN(std::string mode, jf::Text(j, "mode", 32));
    const auto parsed = ParseDeviceMode(mode);
    if (!parsed) return StateError("unknown mode '" + mode + "'");
    s.mode = *parsed;
    HENB_ASSIGN_OR_RETURN(s.reason, jf::Text(j, "reason", kText));
    HENB_ASSIGN_OR_RETURN(s.deadline_ms, ClockField(j, "deadline_ms"));
    HENB_ASSIGN_OR_RETURN(s.last_clock_ms, ClockField(j, "last_clock_ms"));
    HENB_ASSIGN_OR_RETURN(s.challenge, jf::Hex(j, "challenge", kTicketNonceBytes, false));
    HENB_ASSIGN_OR_RETURN(s.challenge_at_ms, ClockField(j, "challenge_at_ms"));
    HENB_ASSIGN_OR_RETURN(s.affirmed_tim, jf::Hex(j, "affirmed_tim", 32, false));
    HENB_ASSIGN_OR_RETURN(s.affirmed_appraisal, jf::Int(j, "affirmed_appraisal", 0, INT64_MAX));
    HENB_ASSIGN_OR_RETURN(int64_t resets, jf::Int(j, "resets", 0, INT64_MAX));
    s.resets = static_cast<uint64_t>(resets);
    HENB_ASSIGN_OR_RETURN(int64_t backoff,
                          jf::Int(j, "minimal_backoff", kMinimalFirstBackoff, kMaxMinimalBackoff));
    s.minimal_backoff = static_cast<int>(backoff);
    HENB_ASSIGN_OR_RETURN(s.last_ticket, jf::Text(j, "last_ticket", kText));
    if (j.contains("recovery_update")) {
      HENB_ASSIGN_OR_RETURN(s.recovery_update, jf::Bool(j, "recovery_update"));
    }
    HENB_ASSIGN_OR_RETURN(s.recovery_update_manifest,
                          jf::Hex(j, "recovery_update_manifest", 32, false));
    HENB_ASSIGN_OR_RETURN(s.recovery_trial_slot, jf::Text(j, "recovery_trial_slot", 8, false));
    if (!s.recovery_trial_slot.empty() && s.recovery_trial_slot != "a" &&
        s.recovery_trial_slot != "b") {
      return StateError("the recovery trial names slot '" + s.recovery_trial_slot + "'");
    }
    HENB_ASSIGN_OR_RETURN(s.recovery_trial_tim, jf::Hex(j, "recovery_trial_tim", 32, false));
    return OkStatus();
  };
  if (auto st = read(); !st.ok()) {
    return StateError(stage.StateFile() + ": " + st.error().message());
  }
  HENB_TRY(stage.LoadKey());
  return stage;
}

Status BootStage::LoadKey() {
  auto key = PublicKey::FromPem(state_.ticket_key_pem);
  if (!key.ok()) return StateError("the ticket key: " + key.error().message());
  if (key->type() != KeyType::kEcP256) return StateError("the ticket key is not a P-256 key");
  key_digest_ = Sha256(key->ToDer());
  key_ = std::move(key).value();
  return OkStatus();
}

Status BootStage::Save() {
  const BootStageState& s = state_;
  const Json j = {{"ticket_key", s.ticket_key_pem},
                  {"period", s.period},
                  {"mode", std::string(DeviceModeName(s.mode))},
                  {"reason", s.reason},
                  {"deadline_ms", std::to_string(s.deadline_ms)},
                  {"last_clock_ms", std::to_string(s.last_clock_ms)},
                  {"challenge", HexEncode(s.challenge)},
                  {"challenge_at_ms", std::to_string(s.challenge_at_ms)},
                  {"affirmed_tim", HexEncode(s.affirmed_tim)},
                  {"affirmed_appraisal", s.affirmed_appraisal},
                  {"resets", s.resets},
                  {"minimal_backoff", s.minimal_backoff},
                  {"last_ticket", s.last_ticket},
                  {"recovery_update", s.recovery_update},
                  {"recovery_update_manifest", HexEncode(s.recovery_update_manifest)},
                  {"recovery_trial_slot", s.recovery_trial_slot},
                  {"recovery_trial_tim", HexEncode(s.recovery_trial_tim)}};
  return env_->WriteFileAtomic(StateFile(), AsBytes(j.dump(2) + "\n"), 0444);
}

Result<uint64_t> BootStage::Now(Tre& tre) {
  HENB_ASSIGN_OR_RETURN(ClockInfo clock, tre.ReadClock());
  const uint64_t now = clock.clock;
  if (now < state_.last_clock_ms) {
    // The clock went back: a TPM keeps its clock in NV only now and then,
    // and after a power loss resumes from the last value kept (TPM2
    // Part 1, "Clock"); a cleared TPM starts again at 0. The time left is
    // what it was when last seen, so a reset gains a hostile OS at most
    // kClockObservationMs.
    // Charged with the most that can have passed unseen as well, so that a
    // power cycle costs the device time rather than gaining it.
    const uint64_t back = state_.last_clock_ms - now + kClockObservationMs;
    state_.deadline_ms = state_.deadline_ms > back ? state_.deadline_ms - back : 0;
    state_.challenge.clear();
    state_.last_clock_ms = now;
    HENB_TRY(Save());
  } else if (now - state_.last_clock_ms >= kClockObservationMs) {
    state_.last_clock_ms = now;
    HENB_TRY(Save());
  }
  return now;
}

Status BootStage::Measure(Tre& tre) {
  // First thing at boot: a clock that went back with the power is seen here.
  HENB_TRY(Now(tre));
  const std::string text = kBootStageEventPrefix + HexEncode(key_digest_);
  Event e;
  e.pcr = kBootStagePcr;
  e.type = event_type::kAction;
  e.data = ToBytes(text);
  for (HashAlg bank : tre.Banks()) {
    e.digests.push_back({static_cast<uint16_t>(bank), Hash(bank, e.data)});
  }
  return tre.Extend(std::move(e));
}

Result<Bytes> BootStage::Challenge(Tre& tre) {
  HENB_ASSIGN_OR_RETURN(uint64_t now, Now(tre));
  HENB_ASSIGN_OR_RETURN(state_.challenge, RandomBytes(kTicketNonceBytes));
  state_.challenge_at_ms = now;
  state_.last_clock_ms = now;
  HENB_TRY(Save());
  return state_.challenge;
}

Result<TicketEffect> BootStage::AcceptTicket(std::string_view token, const std::string& device_id,
                                             Tre& tre, const std::optional<Bytes>& normal_tim) {
  HENB_ASSIGN_OR_RETURN(DeferralTicket ticket, VerifyDeferralTicket(token, *key_, device_id));
  if (state_.challenge.empty() || !Equal(ticket.nonce, state_.challenge)) {
    return Error(ErrorCode::kPolicyTicket,
                 "the ticket answers no outstanding challenge (replayed, or made for another)");
  }
  HENB_ASSIGN_OR_RETURN(uint64_t now, Now(tre));
  if (state_.challenge.empty()) {
    return Error(ErrorCode::kPolicyTicket, "the TrE's clock went back since the challenge");
  }
  const bool late =
      now < state_.challenge_at_ms || now - state_.challenge_at_ms > kChallengeLifetimeMs;
  // Spent whatever the outcome: a challenge answers one ticket.
  state_.challenge.clear();
  state_.last_clock_ms = now;
  if (late) {
    HENB_TRY(Save());
    return Error(ErrorCode::kPolicyTicket, "the ticket came more than " +
                                               std::to_string(kChallengeLifetimeMs / 1000) +
                                               " s after its challenge");
  }
  if (ticket.verdict == TicketVerdict::kRecover) {
    state_.last_ticket = "recover: " + ticket.reason;
    if (state_.mode != DeviceMode::kRecovery) {
      state_.mode = DeviceMode::kRecovery;
      state_.reason = kRecoveryOrdered;
      ++state_.resets;
    }
    HENB_TRY(Save());
    return TicketEffect::kRecover;
  }
  state_.last_ticket = "defer " + std::to_string(ticket.appraisal);
  TicketEffect effect = TicketEffect::kDeferred;
  if (state_.mode == DeviceMode::kRecovery) {
    // The recovery image leaves only for a normal slot the OAM affirmed.
    if (!normal_tim || !Equal(*normal_tim, ticket.tim)) {
      HENB_TRY(Save());
      return TicketEffect::kTimMismatch;
    }
    effect = TicketEffect::kLeftRecovery;
    state_.recovery_trial_slot.clear();
    state_.recovery_trial_tim.clear();
  }
  state_.mode = DeviceMode::kNormal;
  state_.minimal_backoff = kMinimalFirstBackoff;
  state_.affirmed_tim = ticket.tim;
  state_.affirmed_appraisal = ticket.appraisal;
  state_.period = ticket.period;
  state_.deadline_ms = now + PeriodMs(ticket.period);
  HENB_TRY(Save());
  return effect;
}

Result<bool> BootStage::Expired(Tre& tre) {
  if (state_.mode == DeviceMode::kRecovery) return false;
  HENB_ASSIGN_OR_RETURN(uint64_t now, Now(tre));
  return now >= state_.deadline_ms;
}

Status BootStage::EnterRecovery(const std::string& reason, Tre& tre) {
  HENB_ASSIGN_OR_RETURN(uint64_t now, Now(tre));
  if (state_.mode == DeviceMode::kMinimal) {
    state_.minimal_backoff = std::min(kMaxMinimalBackoff, state_.minimal_backoff * 2);
  }
  state_.mode = DeviceMode::kRecovery;
  state_.reason = reason;
  state_.last_clock_ms = now;
  ++state_.resets;
  return Save();
}

Status BootStage::SetRecoveryTrial(const std::string& slot, const Bytes& tim) {
  state_.recovery_trial_slot = slot;
  state_.recovery_trial_tim = slot.empty() ? Bytes{} : tim;
  return Save();
}

Status BootStage::SetRecoveryUpdate(bool staged, const Bytes& manifest_digest) {
  state_.recovery_update = staged;
  state_.recovery_update_manifest = staged ? manifest_digest : Bytes{};
  return Save();
}

Result<bool> BootStage::EnterMinimal(const Bytes& normal_tim, Tre& tre) {
  if (state_.mode != DeviceMode::kRecovery) {
    return StateError("minimal mode is entered from recovery only");
  }
  if (state_.affirmed_tim.empty() || !Equal(normal_tim, state_.affirmed_tim)) return false;
  HENB_ASSIGN_OR_RETURN(uint64_t now, Now(tre));
  state_.mode = DeviceMode::kMinimal;
  state_.recovery_trial_slot.clear();
  state_.recovery_trial_tim.clear();
  state_.last_clock_ms = now;
  state_.deadline_ms =
      now + PeriodMs(state_.period) * static_cast<uint64_t>(state_.minimal_backoff);
  HENB_TRY(Save());
  return true;
}

}  // namespace henbtrust
