#include "henbtrust/pve/appraisal.h"

#include <algorithm>
#include <unordered_map>

#include "henbtrust/core/json_text.h"
#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/jws.h"
#include "henbtrust/net/deferral_ticket.h"

namespace henbtrust {

namespace {

// Each cached verifier holds a parsed key, about 2.5 KB: 65,536 of them
// are about 160 MB. A fleet-wide revalidation uses each device's verifier
// once, so a cache the size of the fleet would only hold memory (2.5 GB
// at a million devices, as the simulator measured); devices that attest
// often stay in a cache of this size.
constexpr size_t kMaxCachedVerifiers = 1 << 16;
constexpr size_t kMaxCachedReplays = 1 << 16;

std::string Submodule(uint32_t pcr) {
  if (pcr <= 1) return "boot";
  if (pcr <= 7) return "os";
  return "application";
}

ArStatus Worst(ArStatus a, ArStatus b) {
  return static_cast<uint8_t>(a) > static_cast<uint8_t>(b) ? a : b;
}

void Contraindicate(AppraisalResult& r, const std::string& detail) {
  r.status = ArStatus::kContraindicated;
  if (r.detail.empty()) r.detail = detail;
}

// Evidence that does not verify says nothing about any component.
void Unverified(AppraisalResult& r, const Error& error) {
  Contraindicate(r, error.ToString());
  r.vector.Worsen(TrustClaim::kInstanceIdentity, ar4si::kCryptoValidationFailed);
  r.evidence_error = error.code();
  for (auto& [name, status] : r.submodules) status = ArStatus::kContraindicated;
}

// What verified evidence must also satisfy: a TPM clock that never goes
// back, a release not revoked and made for the device's hardware.
void CheckPolicy(const DeviceRecord& device, const ReleaseManifest& reference, bool revoked,
                 AppraisalResult& r) {
  if (r.clock.reset_count < device.reset_count ||
      (r.clock.reset_count == device.reset_count && r.clock.clock < device.clock)) {
    r.vector.Worsen(TrustClaim::kInstanceIdentity, ar4si::kUntrustworthyInstance);
    Contraindicate(r, "TPM clock went backwards: reset count " +
                          std::to_string(r.clock.reset_count) + ", clock " +
                          std::to_string(r.clock.clock) + " after " +
                          std::to_string(device.reset_count) + ", " + std::to_string(device.clock));
  }
  if (revoked) {
    // Genuine, and known to be vulnerable: not a modified component.
    r.vector.Worsen(TrustClaim::kExecutables, ar4si::kUnsafeRuntime);
    r.vector.Worsen(TrustClaim::kConfiguration, ar4si::kUnsupportableConfig);
    Contraindicate(r, "release " + reference.release_id + " " + reference.version + " is revoked");
  }
  if (std::find(reference.hardware_models.begin(), reference.hardware_models.end(),
                device.hardware_model) == reference.hardware_models.end()) {
    r.vector.Worsen(TrustClaim::kConfiguration, ar4si::kUnsupportableConfig);
    Contraindicate(
        r, "release " + reference.version + " is not for hardware model " + device.hardware_model);
  }
}

// A verdict on each component `log` measured, against `reference`, and on
// each component of `reference` it did not measure; each submodule takes the
// worst verdict of its components.
void JudgeComponents(const EventLog& log, const ReleaseManifest& reference, AppraisalResult& r) {
  std::map<std::string, bool> seen;
  for (const Event& e : log.events()) {
    auto ref = ParseComponentEvent(e);
    if (!ref) continue;
    const Bytes* digest = e.DigestFor(HashAlg::kSha256);
    const ReleaseComponent* want = reference.Find(ref->id);
    ComponentVerdict v{ref->id, ref->version, ArStatus::kAffirming, ""};
    if (want == nullptr) {
      v.status = ArStatus::kContraindicated;
      v.detail = "not part of release " + reference.version;
    } else if (digest == nullptr || !Equal(*digest, want->sha256)) {
      v.status = ArStatus::kContraindicated;
      v.detail = "measured " + (digest ? HexEncode(*digest) : std::string("nothing")) + ", RIM " +
                 HexEncode(want->sha256);
    } else if (e.pcr != want->pcr) {
      v.status = ArStatus::kContraindicated;
      v.detail =
          "measured into PCR " + std::to_string(e.pcr) + ", plan says " + std::to_string(want->pcr);
    }
    if (v.status != ArStatus::kAffirming) {
      r.vector.Worsen(TrustClaim::kExecutables, ar4si::kUnrecognizedRuntime);
    }
    seen[ref->id] = true;
    auto& sub = r.submodules[Submodule(e.pcr)];
    sub = Worst(sub, v.status);
    r.components.push_back(std::move(v));
  }
  for (const auto& c : reference.components) {
    if (seen.contains(c.id)) continue;
    r.components.push_back({c.id, c.version, ArStatus::kContraindicated, "not measured"});
    r.vector.Worsen(TrustClaim::kExecutables, ar4si::kUnrecognizedRuntime);
    auto& sub = r.submodules[Submodule(c.pcr)];
    sub = ArStatus::kContraindicated;
  }
}

// The ticket key's SHA-256 that the boot stage measured: its quote of
// kBootStagePcr verifies with the AK and `nonce`, `log` replays to it, and
// the PCR's one event is the boot stage's, its digest that of its text.
Result<Bytes> BootStageKey(const QuoteVerifier& verifier, const Evidence& evidence, ByteView nonce,
                           const EventLog& log) {
  QuoteExpectations expect;
  expect.nonce.assign(nonce.begin(), nonce.end());
  expect.pcr_selection = std::vector<PcrSelection>{{HashAlg::kSha256, {kBootStagePcr}}};
  expect.event_log = &log;
  HENB_TRY(verifier.Verify(evidence.boot_stage_attest, evidence.boot_stage_signature, expect));
  const std::string_view prefix = kBootStageEventPrefix;
  std::optional<Bytes> key;
  for (const Event& e : log.events()) {
    if (e.pcr != kBootStagePcr) continue;
    const std::string text = ToString(e.data);
    const Bytes* digest = e.DigestFor(HashAlg::kSha256);
    auto named =
        text.starts_with(prefix) ? HexDecode(text.substr(prefix.size())) : Result<Bytes>(Bytes{});
    if (key || digest == nullptr || !Equal(*digest, Sha256(e.data)) || !named.ok() ||
        named->size() != 32) {
      return Error(ErrorCode::kEventLogComponent,
                   "PCR " + std::to_string(kBootStagePcr) +
                       " holds an event that is not the boot stage's one measurement");
    }
    key = std::move(named).value();
  }
  if (!key) {
    return Error(ErrorCode::kEventLogComponent, "the event log has no boot stage measurement");
  }
  return std::move(*key);
}

}  // namespace

std::string_view ArStatusName(ArStatus status) {
  switch (status) {
    case ArStatus::kAffirming:
      return "affirming";
    case ArStatus::kWarning:
      return "warning";
    case ArStatus::kContraindicated:
      return "contraindicated";
  }
  return "contraindicated";
}

// What appraisals computed before, for the next ones. Thread-safe.
struct Appraiser::Caches {
  // What a log replayed to, by the SHA-256 of its bytes and the selection:
  // a device sends the same log with every quote until it reboots, and a
  // replay is a deterministic function of those, so a log that replayed to
  // a quote's pcrDigest before need not be parsed and replayed again.
  struct Replayed {
    HashAlg alg;
    Bytes pcr_digest;
  };

  Result<std::shared_ptr<const QuoteVerifier>> VerifierFor(const DeviceRecord& device);
  // `plan` is PlanSelection(reference), which the caller already has.
  Bytes ExpectedComposite(const std::string& hardware_model, const PcrSelection& plan,
                          const ReleaseManifest& reference);
  std::optional<Replayed> FindReplay(const std::string& key);
  void RememberReplay(const std::string& key, Replayed replayed);

  Mutex mu;
  // By AK TPM2B_PUBLIC.
  std::map<Bytes, std::shared_ptr<const QuoteVerifier>> verifiers GUARDED_BY(mu);
  // By model / release / version / selection.
  std::map<std::string, Bytes> composites GUARDED_BY(mu);
  std::unordered_map<std::string, Replayed> replays GUARDED_BY(mu);
};

Result<std::shared_ptr<const QuoteVerifier>> Appraiser::Caches::VerifierFor(
    const DeviceRecord& device) {
  {
    MutexLock lock(mu);
    auto it = verifiers.find(device.ak_public);
    if (it != verifiers.end()) return it->second;
  }
  auto v = QuoteVerifier::FromTpmPublic(device.ak_public);
  if (!v.ok()) return v.error().WithContext("enrolled AK of " + device.device_id);
  auto shared = std::make_shared<const QuoteVerifier>(std::move(v).value());
  MutexLock lock(mu);
  if (verifiers.size() >= kMaxCachedVerifiers) verifiers.clear();
  verifiers.emplace(device.ak_public, shared);
  return shared;
}

Bytes Appraiser::Caches::ExpectedComposite(const std::string& hardware_model,
                                           const PcrSelection& plan,
                                           const ReleaseManifest& reference) {
  const std::string key = hardware_model + "/" + reference.release_id + "/" + reference.version +
                          "/" + FormatPcrSelection({plan});
  {
    MutexLock lock(mu);
    auto it = composites.find(key);
    if (it != composites.end()) return it->second;
  }
  Bytes tim = ExpectedTim(reference);
  MutexLock lock(mu);
  composites.emplace(key, tim);
  return tim;
}

std::optional<Appraiser::Caches::Replayed> Appraiser::Caches::FindReplay(const std::string& key) {
  MutexLock lock(mu);
  auto it = replays.find(key);
  if (it == replays.end()) return std::nullopt;
  return it->second;
}

void Appraiser::Caches::RememberReplay(const std::string& key, Replayed replayed) {
  MutexLock lock(mu);
  if (replays.size() >= kMaxCachedReplays) replays.clear();
  replays[key] = std::move(replayed);
}

Appraiser::Appraiser(std::string policy_id)
    : policy_id_(std::move(policy_id)), caches_(std::make_unique<Caches>()) {}

Appraiser::~Appraiser() = default;

Result<AppraisalResult> Appraiser::Appraise(const DeviceRecord& device,
                                            const ReleaseManifest& reference, bool revoked,
                                            const Evidence& evidence, ByteView nonce, int64_t now) {
  AppraisalResult r;
  r.device_id = device.device_id;
  r.release_version = reference.version;
  r.policy_id = policy_id_;
  r.nonce.assign(nonce.begin(), nonce.end());
  r.issued_at = now;
  r.status = ArStatus::kAffirming;
  for (const auto& c : reference.components) r.submodules[Submodule(c.pcr)] = ArStatus::kAffirming;

  HENB_ASSIGN_OR_RETURN(auto verifier, caches_->VerifierFor(device));
  const PcrSelection plan = PlanSelection(reference);
  QuoteExpectations expect;
  expect.nonce = r.nonce;
  expect.pcr_selection = std::vector<PcrSelection>{plan};
  std::optional<EventLog> log;
  auto parse_log = [&]() -> Status {
    auto parsed = EventLog::Parse(evidence.event_log);
    if (!parsed.ok()) return parsed.error().WithContext("event log");
    log = std::move(parsed).value();
    return OkStatus();
  };
  // A log that replayed to the quote's pcrDigest before: the quote is
  // verified without it (the same checks, in the same order, up to the
  // log's). Anything else takes the whole way below, which also gives any
  // failure its usual error.
  std::optional<Result<VerifiedQuote>> quote;
  std::string replay_key;
  if (!evidence.event_log.empty()) {
    replay_key = FormatPcrSelection({plan});
    const Bytes log_digest = Sha256(evidence.event_log);
    replay_key.append(log_digest.begin(), log_digest.end());
    const std::optional<Caches::Replayed> replayed = caches_->FindReplay(replay_key);
    if (replayed) {
      auto q = verifier->Verify(evidence.attest, evidence.signature, expect);
      if (!q.ok() ||
          (q->digest_alg == replayed->alg && Equal(q->info.pcr_digest, replayed->pcr_digest))) {
        quote = std::move(q);
      }
    }
  }
  if (!quote) {
    if (!evidence.event_log.empty()) {
      if (auto st = parse_log(); !st.ok()) {
        Unverified(r, st.error());
        return r;
      }
      expect.event_log = &*log;
    }
    quote = verifier->Verify(evidence.attest, evidence.signature, expect);
    if (quote->ok() && log)
      caches_->RememberReplay(replay_key, {(*quote)->digest_alg, (*quote)->info.pcr_digest});
  }
  if (!quote->ok()) {
    Unverified(r, quote->error());
    return r;
  }
  r.tim = (*quote)->info.pcr_digest;
  r.clock = (*quote)->info.clock;
  // A device with a boot stage: the ticket key its watchdog trusts.
  if (!evidence.boot_stage_attest.empty()) {
    if (!log) {
      if (auto st = parse_log(); !st.ok()) {
        Unverified(r, st.error());
        return r;
      }
    }
    auto key = BootStageKey(*verifier, evidence, r.nonce, *log);
    if (!key.ok()) {
      Unverified(r, key.error().WithContext("the boot stage's quote"));
      return r;
    }
    r.ticket_key = std::move(key).value();
  }
  // The quote verified with the AK enrolled for this device's EK.
  r.vector.Worsen(TrustClaim::kInstanceIdentity, ar4si::kTrustworthyInstance);
  r.vector.Worsen(TrustClaim::kHardware, ar4si::kGenuineHardware);
  CheckPolicy(device, reference, revoked, r);

  if (Equal(r.tim, caches_->ExpectedComposite(device.hardware_model, plan, reference))) {
    // The hash chain pins every component: each is the reference one. The
    // TPM measured what was loaded at boot, not what ran later.
    r.vector.Worsen(TrustClaim::kExecutables, ar4si::kApprovedBoot);
    r.vector.Worsen(TrustClaim::kConfiguration, ar4si::kApprovedConfig);
    for (const auto& c : reference.components) {
      r.components.push_back(
          {c.id, c.version, revoked ? ArStatus::kContraindicated : ArStatus::kAffirming, ""});
    }
    if (revoked) {
      for (auto& [name, status] : r.submodules) status = ArStatus::kContraindicated;
    }
    return r;
  }

  // A mismatch: the log (which must replay to the quoted TIM) names the components.
  Contraindicate(r, "TIM " + HexEncode(r.tim) + " is not the expected TIM of " + reference.version);
  if (!log && !evidence.event_log.empty()) {
    // Skipped above, as one that replayed before: it parses.
    if (auto st = parse_log(); !st.ok()) return st.error();
  }
  if (!log) {
    r.vector.Worsen(TrustClaim::kExecutables, ar4si::kUnrecognizedRuntime);
    r.detail += " (no event log to explain it)";
    for (auto& [name, status] : r.submodules) status = ArStatus::kContraindicated;
    return r;
  }
  JudgeComponents(*log, reference, r);
  return r;
}

}  // namespace henbtrust
