// The messages of a device's identity over time (docs/pve.md, "Certificate
// renewal and decommissioning"; docs/api/pve.yaml): a device renews its
// certificate over its current one, and an operator decommissions a
// device. One codec per message, used by the side that writes it and the
// side that reads it; decoders never throw (kNetBadRequest for a request
// the PVE reads, kNetStatus for an answer a device or a tool reads).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "henbtrust/core/bytes.h"
#include "henbtrust/core/result.h"
#include "henbtrust/net/enrollment.h"
#include "henbtrust/net/pve_protocol.h"

namespace henbtrust {

// POST /v1/devices/{id}/certificate-renewal, sent with the device's current
// certificate: evidence as a push sends it, but quoted over
// RenewalQualifyingData(device id, nonce, tls_public_key) instead of the
// bare nonce, the new TLS key, and the new key's signature over
// RenewalContext(the same), which shows that the device holds it.
struct RenewalRequest {
  EvidenceMessage evidence;  // nonce: one the PVE issued to the device (POST /v1/nonces)
  Bytes tls_public_key;      // DER SubjectPublicKeyInfo the new certificate will name
  Bytes tls_signature;       // ES256 (RS256 for RSA) over RenewalContext
};
std::string EncodeRenewalRequest(const RenewalRequest& request);
// Sizes as for a push (evidence) and for enrollment (the key and its
// signature); no meaning is checked: the PVE does.
Result<RenewalRequest> DecodeRenewalRequest(const nlohmann::json& body);

// The PVE's answer to a renewal it granted (200).
struct RenewalAnswer {
  std::string device_id;
  std::string device_certificate;  // PEM, for the new key
  std::string certificate_serial;  // hex, as Certificate::SerialHex
  std::string previous_serial;     // the certificate it replaces (refused from now on)
  int64_t not_after = 0;           // Unix seconds: the new certificate's expiry
  int64_t appraisal_id = 0;        // the affirming appraisal made for the renewal
};
std::string EncodeRenewalAnswer(const RenewalAnswer& answer);
// kNetStatus naming the member at fault.
Result<RenewalAnswer> DecodeRenewalAnswer(std::string_view text);

// What the renewal's quote is over (its qualifying data, TPMS_ATTEST
// extraData):
//   SHA-256("henbtrust certificate renewal v1" || 0 || device_id || nonce
//           || tls_public_key), each field preceded by its length (u64, BE);
// 32 bytes, which every TPM 2.0 takes. The TPM's signature thus binds the
// new key to this device's AK and to the PVE's nonce: the key of an
// affirming appraisal cannot be swapped for another.
Bytes RenewalQualifyingData(std::string_view device_id, ByteView nonce, ByteView tls_public_key);
// What the new key signs: "henbtrust certificate renewal key v1" || 0 ||
// RenewalQualifyingData(device_id, nonce, tls_public_key).
Bytes RenewalContext(std::string_view device_id, ByteView nonce, ByteView tls_public_key);

// POST /v1/devices/{id}/decommissioning, by an operator: why, for the audit
// log (may be empty; at most kMaxReasonBytes).
struct DecommissionRequest {
  std::string reason = {};
};
std::string EncodeDecommissionRequest(const DecommissionRequest& request);
Result<DecommissionRequest> DecodeDecommissionRequest(const nlohmann::json& body);

// The PVE's answer (200): the device is decommissioned, and the certificate
// with `certificate_serial` (empty if none was recorded) is refused.
struct DecommissionAnswer {
  std::string device_id;
  std::string state;  // "decommissioned"
  std::string certificate_serial = {};
  std::string reason = {};
};
std::string EncodeDecommissionAnswer(const DecommissionAnswer& answer);
Result<DecommissionAnswer> DecodeDecommissionAnswer(std::string_view text);  // kNetStatus

}  // namespace henbtrust
