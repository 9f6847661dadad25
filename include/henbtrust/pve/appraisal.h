// Appraisal of evidence by the Platform Validation Entity (docs/design.md,
// step 3), and the signed attestation result in the style of IETF EAR.
//
// A device whose TIM equals the precomputed composite of its recorded
// release costs one signature verification and a lookup (plus replaying its
// event log, if it sent one: a log must never contradict its quote); on a
// mismatch the log names the components that differ.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "henbtrust/crypto/keys.h"
#include "henbtrust/net/trust_vector.h"
#include "henbtrust/release/manifest.h"
#include "henbtrust/store/store.h"
#include "henbtrust/tpm/quote_verifier.h"

namespace henbtrust {

// EAR trustworthiness tiers.
enum class ArStatus : uint8_t { kAffirming, kWarning, kContraindicated };
std::string_view ArStatusName(ArStatus status);

struct ComponentVerdict {
  std::string id;
  std::string version;
  ArStatus status = ArStatus::kAffirming;
  std::string detail;
};

struct AppraisalResult {
  std::string device_id;
  std::string release_version;
  std::string policy_id;
  ArStatus status = ArStatus::kContraindicated;
  // "boot" (PCRs 0-1), "os" (PCRs 2-7), "application" (PCRs 8-23).
  std::map<std::string, ArStatus> submodules;
  std::vector<ComponentVerdict> components;
  Bytes nonce;
  Bytes tim;
  ClockInfo clock;
  // The SHA-256 of the ticket key the device's boot stage measured, from
  // a verified quote of kBootStagePcr (net/deferral_ticket.h); empty
  // without one.
  Bytes ticket_key;
  int64_t issued_at = 0;
  std::string detail;  // why, when not affirming
  // Why, as AR4SI claims (docs/appraisal-claims.md); `status` is never more
  // trusting than the vector's worst tier.
  TrustVector vector = {};
  // Set when the evidence itself does not verify (signature, nonce, PCR
  // selection, a log that does not replay): the code of the failed check.
  // Unset when verified evidence shows a configuration that is not the reference.
  std::optional<ErrorCode> evidence_error;
};

struct Evidence {
  Bytes attest;     // TPMS_ATTEST
  Bytes signature;  // TPMT_SIGNATURE
  // May be empty: the composite alone decides a match, and a mismatch is then
  // not explained. When present it must replay to the quoted PCRs.
  Bytes event_log;
  // The boot stage's quote of kBootStagePcr (EvidenceMessage); empty
  // without a boot stage. When present it must verify, with the same
  // nonce, and the event log must explain it.
  Bytes boot_stage_attest = {};
  Bytes boot_stage_signature = {};
};

// Thread-safe; caches parsed AKs, expected composites and event-log replays.
class Appraiser {
 public:
  explicit Appraiser(std::string policy_id = "henbtrust/default-v1");
  ~Appraiser();
  Appraiser(const Appraiser&) = delete;
  Appraiser& operator=(const Appraiser&) = delete;

  // Appraises `evidence` from `device` against the manifest of its recorded
  // release. Bad evidence is a contraindicated result naming the failed
  // check, not an Error; an Error means the appraisal could not be made
  // (for example the stored AK does not parse).
  Result<AppraisalResult> Appraise(const DeviceRecord& device, const ReleaseManifest& reference,
                                   bool revoked, const Evidence& evidence, ByteView nonce,
                                   int64_t now);

 private:
  struct Caches;
  std::string policy_id_;
  std::unique_ptr<Caches> caches_;
};

}  // namespace henbtrust
