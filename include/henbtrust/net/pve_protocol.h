// The messages between a device or the OAM and the PVE (docs/api/pve.yaml),
// one codec each, used by the side that writes the message and the side
// that reads it. Encoders take a struct and give the JSON text; decoders
// take what a peer sent and give the struct or an Error (kNetBadRequest for
// a request the PVE reads, kNetStatus for an answer a device or the OAM
// reads), never an exception, whatever the input: not JSON, a member
// missing, null, of another type or beyond its limit. Decoders check
// encodings and sizes, not meaning (keys, PCR selections, ids): the reader
// does. Enrollment's messages are in net/enrollment.h.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/core/result.h"
#include "henbtrust/net/paging.h"
#include "henbtrust/net/trust_vector.h"

namespace henbtrust {

// Field limits, the same in every message that carries the field.
inline constexpr size_t kMaxDeviceIdBytes = 64;
inline constexpr size_t kMaxReleaseIdBytes = 128;
inline constexpr size_t kMaxReleaseVersionBytes = 64;
// A nonce as a TPM takes it (TPM2B_DATA: at most the largest digest).
inline constexpr size_t kMaxNonceBytes = 64;
// The OAM's order nonce (step 9), which the PVE does not issue.
inline constexpr size_t kMinOrderNonceBytes = 16;
// A TPM structure (TPM2B_PUBLIC, TPMS_ATTEST, TPMT_SIGNATURE).
inline constexpr size_t kMaxTpmStructureBytes = 4096;
inline constexpr size_t kMaxEventLogBytes = size_t{512} * 1024;
// A PCR selection as text ("sha256:0,1,2+sha1:7").
inline constexpr size_t kMaxPcrSelectionBytes = 256;
inline constexpr size_t kMaxReasonBytes = 1024;
// An answer with a signed result and its event-log-free evidence fits.
inline constexpr size_t kMaxAttestationTokenBytes = size_t{64} * 1024;
inline constexpr size_t kMaxStatusBytes = 32;  // "affirming", "quarantine", ...
inline constexpr size_t kMaxDetailBytes = 4096;
inline constexpr size_t kMaxCertificateSerialBytes = 128;
// A whole answer of the PVE (its JSON text): what the fields above add up
// to in the largest (an appraisal's result with every component), and room.
inline constexpr size_t kMaxPveAnswerBytes = size_t{4} << 20;

// POST /v1/nonces answers with this; a push's result carries the next one
// as `next_nonce`.
struct NonceAnswer {
  Bytes nonce;
  int64_t expires_at = 0;     // Unix seconds, by the PVE's clock; 0: not said
  std::string pcr_selection;  // what to quote, FormatPcrSelection's text
};
std::string EncodeNonceAnswer(const NonceAnswer& answer);
// The answer to POST /v1/nonces. expires_at that is not an integer (or
// absent) reads as 0, which a device takes as "fetch a fresh nonce next time".
Result<NonceAnswer> DecodeNonceAnswer(std::string_view text);
// The `next_nonce` of a push's result: nullopt when the result has none,
// an Error when the result or its next_nonce is malformed. Reads the member
// without parsing the whole result where it can (ScanJsonMember, most of
// the result is the signed token); the same answer as a full parse.
Result<std::optional<NonceAnswer>> DecodeNextNonce(std::string_view result_text);

// Evidence: a quote over the nonce, with the event log. The body of a
// device's push (POST /v1/evidence) and of its agent's answer to a pull.
struct EvidenceMessage {
  Bytes nonce;
  Bytes attest;     // TPMS_ATTEST
  Bytes signature;  // TPMT_SIGNATURE
  Bytes event_log;  // TCG serialization; empty: not sent
  // Who the device says it is (a push may name it; the certificate decides).
  std::string device_id = {};
  // A device with a boot stage: a second quote with the same nonce, of
  // kBootStagePcr alone (net/deferral_ticket.h), which the event log
  // explains. Both empty, or both set.
  Bytes boot_stage_attest = {};
  Bytes boot_stage_signature = {};
};
std::string EncodeEvidence(const EvidenceMessage& evidence);
// The same with the event log given as base64 (a device whose log has not
// changed since it last encoded it sends the same text again).
std::string EncodeEvidence(const EvidenceMessage& evidence, std::string_view event_log_base64);
// From a push's body (api::ParseJsonBody). kNetBadRequest.
Result<EvidenceMessage> DecodeEvidence(const nlohmann::json& body);
// From a device agent's answer to a pull (text). kNetStatus.
Result<EvidenceMessage> DecodeEvidenceAnswer(std::string_view text);

// Pull: the PVE asks a device's agent for evidence (POST /v1/integrity-request).
struct IntegrityRequest {
  Bytes nonce;
  std::string pcr_selection;
};
std::string EncodeIntegrityRequest(const IntegrityRequest& request);
Result<IntegrityRequest> DecodeIntegrityRequest(std::string_view text);  // kNetBadRequest

// Step 9: the OAM has the PVE appraise a device's completion quote (made
// with the order's nonce) against a release
// (POST /v1/devices/{id}/update-appraisals).
struct UpdateAppraisalRequest {
  std::string release_id;
  std::string version;
  EvidenceMessage evidence;  // nonce: the order's, at least kMinOrderNonceBytes
};
std::string EncodeUpdateAppraisalRequest(const UpdateAppraisalRequest& request);
Result<UpdateAppraisalRequest> DecodeUpdateAppraisalRequest(const nlohmann::json& body);

// The OAM's commit: the release the device's appraisals compare against
// (PUT /v1/devices/{id}/configuration); the PVE answers with the same
// members and device_id.
struct ConfigurationMessage {
  std::string device_id = {};  // in the answer only
  std::string release_id;
  std::string version;
};
std::string EncodeConfiguration(const ConfigurationMessage& message);
Result<ConfigurationMessage> DecodeConfiguration(const nlohmann::json& body);  // kNetBadRequest

// An operator's revocation of a release or a device
// (POST /v1/releases/{id}/{version}/revocation, POST /v1/devices/{id}/revocation):
// why, in at most kMaxReasonBytes; a reason is required.
struct RevocationRequest {
  std::string reason;
};
std::string EncodeRevocationRequest(const RevocationRequest& request);
Result<RevocationRequest> DecodeRevocationRequest(const nlohmann::json& body);  // kNetBadRequest

// The PVE's answer to an appraisal (push, pull, update appraisal): 200, or
// 422 with `error` when the evidence did not verify.
struct ComponentAnswer {
  std::string id;
  std::string status;
  std::string version;
  std::string detail = {};
};
struct AttestationResultAnswer {
  int64_t appraisal_id = 0;
  std::string attestation_result;  // the signed EAR (compact JWS)
  std::vector<ComponentAnswer> components = {};
  std::string detail = {};
  std::string device_id = {};
  std::string error_code = {};  // set when the evidence did not verify
  std::string error_message = {};
  std::optional<NonceAnswer> next_nonce = {};  // a push's only
  std::string release = {};
  std::string status;                                             // "affirming", ...
  std::vector<std::pair<std::string, std::string>> submods = {};  // name -> status
  std::string tim = {};                                           // hex
  TrustVector vector = {};  // why: the EAR's ear.trustworthiness-vector
};
// The answer as text, but for appraisal_id, which only the store's commit
// gives: With(id) inserts it. Members in sorted order, as nlohmann writes.
struct AttestationResultText {
  std::string text;
  size_t id_at = 0;
  std::string With(int64_t appraisal_id) const;
};
// kInternal if a text member is not UTF-8.
Result<AttestationResultText> EncodeAttestationResult(const AttestationResultAnswer& answer);
// What the OAM reads of an update appraisal's answer: every member the
// encoder writes, checked; kNetStatus.
Result<AttestationResultAnswer> DecodeAttestationResult(std::string_view text);

// GET /v1/devices/{id}/attestation-result: the device's latest appraisal.
struct LatestResultAnswer {
  std::string device_id;
  int64_t appraisal_id = 0;
  std::string status;
  int64_t appraised_at = 0;
  std::string attestation_result;
  TrustVector vector = {};  // the result's, read from its signed EAR
  std::string tim = {};     // hex, the quote's TIM the EAR names; empty if none
  // hex SHA-256 of the ticket key the device's boot stage measured
  // (henbtrust.ticket-key), read from its verified PCR 15 quote; empty
  // without a boot stage quote.
  std::string ticket_key = {};
};
std::string EncodeLatestResult(const LatestResultAnswer& answer);
Result<LatestResultAnswer> DecodeLatestResult(std::string_view text);  // kNetStatus

// GET /v1/appraisals?device=ID&after=ID&limit=N: {"appraisals": [...],
// "next"}, each as the latest result above, by appraisal id (net/paging.h).
inline constexpr size_t kMaxAppraisalListBytes = size_t{32} << 20;
std::string EncodeAppraisalList(const Page<LatestResultAnswer>& page);
Result<Page<LatestResultAnswer>> DecodeAppraisalList(std::string_view text);  // kNetStatus

// GET /v1/devices/{id}/access-decision: the SeGW's question.
struct AccessDecisionAnswer {
  std::string device_id;
  std::string decision;  // "admit" or "quarantine"
  std::string reason;
  std::optional<std::string> certificate_serial = {};  // of the enrolled device, if any
  // The latest appraisal, when there is one the decision looked at.
  std::optional<std::string> status = {};
  int64_t appraised_at = 0;
  int64_t appraisal_id = 0;
  TrustVector vector = {};  // the latest result's, with status
  // The oldest an affirming result may be to admit (seconds): the PVE's
  // bound, or the gateway's max_age where that is smaller; 0 if not said.
  int64_t max_age = 0;
};
std::string EncodeAccessDecision(const AccessDecisionAnswer& answer);
Result<AccessDecisionAnswer> DecodeAccessDecision(std::string_view text);  // kNetStatus

// {"error": {"code", "message"}} of a refused request; nullopt if `text` is
// not such an answer.
struct ErrorAnswer {
  std::string code;
  std::string message;
};
std::optional<ErrorAnswer> DecodeErrorAnswer(std::string_view text);

}  // namespace henbtrust
