// The enrollment messages between a device and the PVE (docs/design.md
// section 4, docs/security.md): one codec for the request, used by the
// device that writes it and the PVE that reads it, and the proof that binds
// the request to the TPM that answered its credential challenge.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "henbtrust/core/bytes.h"
#include "henbtrust/net/pve_protocol.h"

namespace henbtrust {

// Field limits of an enrollment request, beside those every message shares
// (net/pve_protocol.h: device id, release id and version, TPM structures).
inline constexpr size_t kMaxHardwareModelBytes = 128;
inline constexpr size_t kMaxTpmPublicBytes = kMaxTpmStructureBytes;
inline constexpr size_t kMaxEkCertificateBytes = size_t{16} * 1024;
inline constexpr size_t kMaxAgentAddressBytes = 300;
// The whole request (its JSON text): what the fields above add up to, and room.
inline constexpr size_t kMaxEnrollmentRequestBytes = size_t{64} * 1024;
// The sealed challenge state the PVE hands the device and takes back: the
// request, sealed, in base64.
inline constexpr size_t kMaxEnrollmentTokenBytes = 2 * kMaxEnrollmentRequestBytes;
inline constexpr size_t kMaxActivationProofBytes = 64;
inline constexpr size_t kMaxActivationSignatureBytes = 1024;
// One certificate, or a CA bundle, in PEM.
inline constexpr size_t kMaxCertificatePemBytes = size_t{64} * 1024;
// The largest answer of the PVE to an enrollment step (its JSON text).
inline constexpr size_t kMaxEnrollmentAnswerBytes =
    kMaxEnrollmentTokenBytes + 3 * kMaxCertificatePemBytes + 4 * kMaxTpmStructureBytes;

// POST /v1/enrollments: who the device says it is, and its keys.
struct EnrollmentFields {
  std::string device_id;
  std::string hardware_model;
  std::string release_id;          // the release the device runs ...
  std::string release_version;     // ... which the first appraisal checks it against
  Bytes ek_public = {};            // TPM2B_PUBLIC
  Bytes ek_certificate = {};       // DER, from the TPM manufacturer
  Bytes ak_public = {};            // TPM2B_PUBLIC
  Bytes tls_public_key = {};       // DER SubjectPublicKeyInfo the device certificate will name
  std::string agent_address = {};  // "host:port" where the agent answers pulls; may be empty
  // DER SubjectPublicKeyInfo of the recovery image's TLS key, which the
  // device's boot stage holds (docs/recovery.md); empty for a device
  // without one. The PVE then issues a recovery certificate too.
  Bytes recovery_public_key = {};
};

// The request as JSON ({"device_id": ..., "ek_public": base64, ...}).
nlohmann::json EncodeEnrollmentFields(const EnrollmentFields& request);
// Reads every field within its limit (kNetBadRequest naming the field);
// checks no meaning (ids, keys, certificates): the PVE does.
Result<EnrollmentFields> DecodeEnrollmentFields(const nlohmann::json& body);

// The PVE's answer to the request (201): the credential challenge for the
// device's TPM, and the challenge's state, sealed, which the device returns
// with its proof (the PVE stores nothing until the proof arrives).
struct EnrollmentChallenge {
  std::string device_id;
  Bytes credential_blob;         // TPM2B_ID_OBJECT contents, for ActivateCredential
  Bytes encrypted_secret;        // TPM2B_ENCRYPTED_SECRET contents
  std::string enrollment_token;  // opaque to the device
  int64_t expires_at = 0;        // Unix seconds: answer before
};
std::string EncodeEnrollmentChallenge(const EnrollmentChallenge& challenge);
// kNetStatus naming the member at fault.
Result<EnrollmentChallenge> DecodeEnrollmentChallenge(std::string_view text);

// The device's answer to its challenge
// (POST /v1/enrollments/{device_id}/activation): see ActivationProof below.
struct ActivationAnswer {
  std::string enrollment_token;  // as the challenge gave it
  Bytes proof;                   // ActivationProof(secret, request)
  Bytes tls_signature;           // over ActivationContext(request), with the TLS key
  // Over RecoveryActivationContext(request), with the recovery key; empty
  // when the request named none.
  Bytes recovery_signature = {};
};
std::string EncodeActivationAnswer(const ActivationAnswer& answer);
// kNetBadRequest naming the field at fault.
Result<ActivationAnswer> DecodeActivationAnswer(const nlohmann::json& body);

// The PVE's answer to a proof that holds (200): the device's credentials.
struct IssuedCredentials {
  std::string device_id;
  std::string device_certificate;     // PEM, for the device's TLS key
  std::string ca_certificate;         // PEM: the servers' CA, which the device trusts
  std::string client_ca_certificate;  // PEM: the CA of the clients the agent admits (pull)
  // PEM, for the recovery key (role henbtrust-recovery); empty when the
  // request named none.
  std::string recovery_certificate = {};
};
std::string EncodeIssuedCredentials(const IssuedCredentials& issued);
// kNetStatus naming the member at fault.
Result<IssuedCredentials> DecodeIssuedCredentials(std::string_view text);

// SHA-256 over every field of `request`, each length-prefixed, in the
// order of the struct: what the activation proof binds. An empty
// recovery_public_key (the last field) is left out, so that a request
// without one has the digest it had before the field existed.
Bytes EnrollmentDigest(const EnrollmentFields& request);

// The device answers its credential challenge not with the activated secret
// but with
//   proof = HMAC-SHA-256(secret, ActivationContext(request))
// and a signature over the same context with its TLS key (ES256, or RS256
// for RSA), where context = "henbtrust activation v2" || 0 ||
// EnrollmentDigest(request). The secret never crosses the wire, so whoever
// relays the first contact and changes anything of the request (the TLS key
// above all) can make no proof for what it changed, and the device's proof
// names what the device sent.
inline constexpr char kActivationContextLabel[] = "henbtrust activation v2";
Bytes ActivationContext(const EnrollmentFields& request);
// What the recovery key signs (recovery_signature): the same digest under a
// label of its own, so that no signature the boot stage makes with the
// recovery key can stand for a tls_signature (the recovery key is never a
// device key).
inline constexpr char kRecoveryActivationContextLabel[] = "henbtrust recovery activation v1";
Bytes RecoveryActivationContext(const EnrollmentFields& request);
Bytes ActivationProof(ByteView secret, const EnrollmentFields& request);

}  // namespace henbtrust
