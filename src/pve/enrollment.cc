#include "pve/enrollment.h"

#include <algorithm>
#include <chrono>

#include "henbtrust/crypto/random.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/enrollment.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/release/manifest.h"
#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/quote_verifier.h"
#include "henbtrust/tpm/structures.h"
#include "pve/enrollment_token.h"

namespace henbtrust {

namespace {

using Json = nlohmann::json;
using namespace api;

constexpr size_t kChallengeBytes = 16;

// Whether `existing` (the record under the id, if any) lets request `r`
// enroll: the same EK, not revoked, the same release.
Status CheckReEnrollment(const std::optional<DeviceRecord>& existing, const EnrollmentFields& r) {
  if (!existing) return OkStatus();
  if (existing->ek_public != r.ek_public) {
    return Error(ErrorCode::kPolicyDeviceConflict,
                 "device " + r.device_id + " is enrolled with another EK");
  }
  if (existing->state == kDeviceRevoked || existing->state == kDeviceDecommissioned) {
    return Error(ErrorCode::kPolicyEnrollment, "device " + r.device_id + " was " + existing->state +
                                                   " by an operator; it may not enroll again");
  }
  if (!existing->recovery_public_key.empty() && existing->recovery_public_key == r.tls_public_key) {
    return Error(ErrorCode::kPolicyEnrollment,
                 "tls_public_key is the recovery key enrolled for " + r.device_id +
                     ": the recovery image's key is never a device key");
  }
  if (!existing->recovery_public_key.empty() && !r.recovery_public_key.empty() &&
      existing->recovery_public_key != r.recovery_public_key) {
    return Error(ErrorCode::kPolicyDeviceConflict,
                 "device " + r.device_id +
                     " is enrolled with another recovery key; its boot stage keeps one for good");
  }
  // Re-enrollment (a new AK in the same TPM) cannot move the recorded
  // configuration: only a verified update does that, or an operator.
  if (existing->release_id != r.release_id || existing->release_version != r.release_version) {
    return Error(ErrorCode::kPolicyDeviceConflict,
                 "device " + r.device_id + " is enrolled with release " + existing->release_id +
                     " " + existing->release_version + "; re-enrollment cannot change it");
  }
  return OkStatus();
}

}  // namespace

namespace {

// A client certificate of `role` naming `device` (CN and URI), issued at
// `now` for `validity` by the client CA.
CertificateSpec DeviceRoleSpec(const DeviceRecord& device, std::string_view role,
                               std::chrono::seconds validity, int64_t now) {
  CertificateSpec spec;
  spec.common_name = device.device_id;
  spec.organization = std::string(role);
  spec.client_auth = true;
  spec.uris = {DeviceUri(device.device_id)};
  spec.validity = validity;
  spec.issued_at = std::chrono::system_clock::from_time_t(static_cast<time_t>(now));
  return spec;
}

}  // namespace

Result<Certificate> IssueDeviceCertificate(const PveConfig& config, const DeviceRecord& device,
                                           const PublicKey& key, int64_t now) {
  CertificateSpec spec =
      DeviceRoleSpec(device, kRoleDevice, config.device_certificate_validity, now);
  spec.server_auth = !device.agent_address.empty();  // the agent serves pull requests with it
  return IssueCertificate(spec, key, config.client_ca_key, &config.client_ca);
}

Result<Certificate> IssueRecoveryCertificate(const PveConfig& config, const DeviceRecord& device,
                                             const PublicKey& key, int64_t now) {
  const CertificateSpec spec =
      DeviceRoleSpec(device, kRoleRecovery, config.recovery_certificate_validity, now);
  return IssueCertificate(spec, key, config.client_ca_key, &config.client_ca);
}

Result<HttpResponse> BeginEnrollment(const EnrollmentService& s, const HttpRequest& req) {
  if (req.body.size() > kMaxEnrollmentRequestBytes) {
    return Error(ErrorCode::kNetTooLarge, "an enrollment request has at most " +
                                              std::to_string(kMaxEnrollmentRequestBytes) +
                                              " bytes");
  }
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(EnrollmentFields r, DecodeEnrollmentFields(body));
  if (!IsNewDeviceIdAllowed(r.device_id)) {
    return BadRequest(
        "device_id must be 1-64 of [A-Za-z0-9_-], starting with a letter or digit, and not "
        "a host name or an address");
  }
  if (!r.agent_address.empty() && !ParseHostPort(r.agent_address).ok())
    return BadRequest("agent_address must be host:port");
  if (!PublicKey::FromDer(r.tls_public_key).ok())
    return BadRequest("tls_public_key is not a DER SubjectPublicKeyInfo");
  if (!r.recovery_public_key.empty()) {
    if (!PublicKey::FromDer(r.recovery_public_key).ok())
      return BadRequest("recovery_public_key is not a DER SubjectPublicKeyInfo");
    if (r.recovery_public_key == r.tls_public_key)
      return BadRequest("recovery_public_key must not be the TLS key: the two roles differ");
  }

  // The EK: an EK certificate from a manufacturer CA, for the EK the TPM reports.
  auto ek_cert = Certificate::FromDer(r.ek_certificate);
  if (!ek_cert.ok()) return BadRequest("ek_certificate is not a DER X.509 certificate");
  ChainOptions chain;
  chain.allow_unknown_critical = true;  // EK certificates carry TPM-specific critical extensions
  if (auto st = VerifyChain(*ek_cert, {}, s.config.manufacturer_cas, chain); !st.ok()) {
    return Error(ErrorCode::kPolicyEnrollment,
                 "EK certificate not issued by a trusted manufacturer: " + st.error().message());
  }
  auto ek = ParseTpmPublic(r.ek_public);
  if (!ek.ok()) return ek.error().WithContext("ek_public");
  constexpr uint32_t kEkAttributes = kTpmaFixedTpm | kTpmaRestricted | kTpmaDecrypt;
  if ((ek->object_attributes & kEkAttributes) != kEkAttributes)
    return Error(ErrorCode::kPolicyEnrollment, "ek_public is not a restricted decryption key");
  HENB_TRY(CheckEkCertificate(*ek_cert, ek->key));
  // The AK: a restricted signing key that cannot leave its TPM.
  auto ak = ParseTpmPublic(r.ak_public);
  if (!ak.ok()) return ak.error().WithContext("ak_public");
  if (!ak->IsRestrictedSigningKey() || (ak->object_attributes & kTpmaFixedTpm) == 0) {
    return Error(ErrorCode::kPolicyEnrollment,
                 "ak_public is not a fixedTPM restricted signing key");
  }
  if (!QuoteVerifier::FromTpmPublic(r.ak_public).ok())
    return Error(ErrorCode::kPolicyEnrollment, "the AK cannot verify quotes");

  // The release it claims must be one the PVE knows, for its hardware.
  HENB_ASSIGN_OR_RETURN(auto manifest, s.store.GetManifest(r.release_id, r.release_version));
  if (!manifest) {
    return Error(ErrorCode::kPolicyUnknownRelease,
                 "no reference manifest for release " + r.release_id + " " + r.release_version);
  }
  HENB_ASSIGN_OR_RETURN(ReleaseManifest parsed, ParseManifest(manifest->manifest));
  if (std::find(parsed.hardware_models.begin(), parsed.hardware_models.end(), r.hardware_model) ==
      parsed.hardware_models.end()) {
    return Error(ErrorCode::kPolicyEnrollment,
                 "release " + r.release_version + " is not for hardware model " + r.hardware_model);
  }
  HENB_ASSIGN_OR_RETURN(auto existing, s.store.GetDevice(r.device_id));
  HENB_TRY(CheckReEnrollment(existing, r));

  // Nothing is stored: the device keeps the challenge's state, sealed.
  EnrollmentChallengeState state;
  HENB_ASSIGN_OR_RETURN(state.challenge, RandomBytes(kChallengeBytes));
  state.expires_at = s.config.now() + s.config.enrollment_ttl;
  const Bytes secret = EnrollmentSecret(s.config.nonce_key, r.device_id, state.challenge);
  HENB_ASSIGN_OR_RETURN(CredentialChallenge challenge,
                        MakeCredential(r.ek_public, ak->name, secret));
  const std::string device_id = r.device_id;
  state.request = std::move(r);
  return JsonText(201, EncodeEnrollmentChallenge({device_id, std::move(challenge.credential_blob),
                                                  std::move(challenge.encrypted_secret),
                                                  SealEnrollmentToken(state, s.config.nonce_key),
                                                  state.expires_at}));
}

Result<HttpResponse> FinishEnrollment(const EnrollmentService& s, const HttpRequest& req,
                                      const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(ActivationAnswer answer, DecodeActivationAnswer(body));
  const Bytes& proof = answer.proof;
  const Bytes& tls_signature = answer.tls_signature;
  HENB_ASSIGN_OR_RETURN(EnrollmentChallengeState state,
                        OpenEnrollmentToken(answer.enrollment_token, s.config.nonce_key));
  const EnrollmentFields& r = state.request;
  const int64_t now = s.config.now();
  if (r.device_id != device_id) {
    return Error(ErrorCode::kPolicyEnrollment, "the enrollment_token is for another device");
  }
  if (state.expires_at <= now) {
    return Error(ErrorCode::kPolicyEnrollment,
                 "the challenge for " + device_id + " expired: enroll again");
  }
  // The proof: only the TPM that activated the credential knows the secret,
  // and the proof names every field of the request the device sent (its
  // TLS key above all). A wrong answer spends nothing.
  const Bytes secret = EnrollmentSecret(s.config.nonce_key, device_id, state.challenge);
  if (!ConstantTimeEqual(proof, ActivationProof(secret, r))) {
    return Error(ErrorCode::kPolicyEnrollment,
                 "credential activation failed: the proof is not from the TPM of that EK for "
                 "the request it sent");
  }
  HENB_ASSIGN_OR_RETURN(PublicKey subject, PublicKey::FromDer(r.tls_public_key));
  const SignatureScheme scheme =
      subject.type() == KeyType::kRsa ? SignatureScheme::kRsaPkcs1 : SignatureScheme::kEcdsa;
  if (!subject.Verify(scheme, HashAlg::kSha256, ActivationContext(r), tls_signature).ok()) {
    return Error(ErrorCode::kPolicyEnrollment,
                 "tls_signature does not verify: the device does not hold the TLS key");
  }
  std::optional<PublicKey> recovery_key;
  if (!r.recovery_public_key.empty()) {
    HENB_ASSIGN_OR_RETURN(recovery_key, PublicKey::FromDer(r.recovery_public_key));
    const SignatureScheme recovery_scheme = recovery_key->type() == KeyType::kRsa
                                                ? SignatureScheme::kRsaPkcs1
                                                : SignatureScheme::kEcdsa;
    if (!recovery_key
             ->Verify(recovery_scheme, HashAlg::kSha256, RecoveryActivationContext(r),
                      answer.recovery_signature)
             .ok()) {
      return Error(ErrorCode::kPolicyEnrollment,
                   "recovery_signature does not verify: the device does not hold the recovery key");
    }
  }
  // One certificate per challenge, across instances.
  HENB_ASSIGN_OR_RETURN(bool first, s.store.SpendNonce(state.challenge, state.expires_at));
  if (!first) {
    return Error(ErrorCode::kPolicyEnrollment,
                 "this challenge was answered already: enroll again for another certificate");
  }
  DeviceRecord d;
  d.device_id = device_id;
  d.hardware_model = r.hardware_model;
  d.ek_public = r.ek_public;
  d.ek_certificate = r.ek_certificate;
  d.ak_public = r.ak_public;
  d.release_id = r.release_id;
  d.release_version = r.release_version;
  d.agent_address = r.agent_address;
  d.state = kDeviceEnrolled;
  d.updated_at = now;
  d.recovery_public_key = r.recovery_public_key;
  HENB_ASSIGN_OR_RETURN(auto existing, s.store.GetDevice(device_id));
  HENB_TRY(CheckReEnrollment(existing, r));
  // A recovery key, once recorded, stays: a request without one keeps it.
  if (existing && d.recovery_public_key.empty())
    d.recovery_public_key = existing->recovery_public_key;

  HENB_ASSIGN_OR_RETURN(Certificate cert, IssueDeviceCertificate(s.config, d, subject, now));
  d.certificate_serial = cert.SerialHex();
  std::string recovery_pem;
  if (recovery_key) {
    HENB_ASSIGN_OR_RETURN(Certificate recovery,
                          IssueRecoveryCertificate(s.config, d, *recovery_key, now));
    recovery_pem = recovery.ToPem();
  }
  auto ak_name = TpmObjectName(d.ak_public);
  // The store checks the EK and the revocation again, in the transaction
  // that writes: a concurrent enrollment or revocation is never overwritten.
  HENB_TRY(s.store.EnrollDevice(
      d, AuditEntry{0,
                    now,
                    "pve",
                    "device:" + device_id,
                    existing ? "re-enrolled" : "enrolled",
                    device_id + ": credential activated; AK " +
                        (ak_name.ok() ? HexEncode(*ak_name) : std::string("?")) + ", certificate " +
                        d.certificate_serial +
                        (existing && !existing->certificate_serial.empty()
                             ? " (supersedes " + existing->certificate_serial + ")"
                             : std::string()),
                    {},
                    {}}));
  return JsonText(200, EncodeIssuedCredentials({device_id, cert.ToPem(), s.config.server_ca_pem,
                                                s.client_ca_pem, std::move(recovery_pem)}));
}

}  // namespace henbtrust
