#include "henbtrust/net/enrollment.h"

#include <cstdint>
#include <utility>

#include "henbtrust/core/json_fields.h"
#include "henbtrust/crypto/digest.h"

namespace henbtrust {

namespace {

void PutField(Hasher& h, ByteView field) {
  Bytes length;
  PutU64Be(length, field.size());
  h.Update(length);
  h.Update(field);
}

// An answer the device reads: the PVE's fault is kNetStatus.
template <typename T>
Result<T> AsAnswer(Result<T> read) {
  if (read.ok()) return read;
  return Error(ErrorCode::kNetStatus, "the PVE's answer: " + read.error().message());
}

// One of the PVE's enrollment answers as an object, with its device_id read.
Result<nlohmann::json> AnswerObject(std::string_view text, const char* what,
                                    std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(nlohmann::json o,
                        AsAnswer(json_fields::ParseObject(text, what, kMaxEnrollmentAnswerBytes)));
  HENB_ASSIGN_OR_RETURN(device_id, AsAnswer(json_fields::Text(o, "device_id", kMaxDeviceIdBytes)));
  return o;
}

}  // namespace

nlohmann::json EncodeEnrollmentFields(const EnrollmentFields& r) {
  nlohmann::json body = {{"device_id", r.device_id},
                         {"hardware_model", r.hardware_model},
                         {"release_id", r.release_id},
                         {"release_version", r.release_version},
                         {"ek_public", Base64Encode(r.ek_public)},
                         {"ek_certificate", Base64Encode(r.ek_certificate)},
                         {"ak_public", Base64Encode(r.ak_public)},
                         {"tls_public_key", Base64Encode(r.tls_public_key)}};
  if (!r.agent_address.empty()) body["agent_address"] = r.agent_address;
  if (!r.recovery_public_key.empty())
    body["recovery_public_key"] = Base64Encode(r.recovery_public_key);
  return body;
}

Result<EnrollmentFields> DecodeEnrollmentFields(const nlohmann::json& body) {
  EnrollmentFields r;
  HENB_ASSIGN_OR_RETURN(r.device_id, json_fields::Text(body, "device_id", kMaxDeviceIdBytes));
  HENB_ASSIGN_OR_RETURN(r.hardware_model,
                        json_fields::Text(body, "hardware_model", kMaxHardwareModelBytes));
  HENB_ASSIGN_OR_RETURN(r.release_id, json_fields::Text(body, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(r.release_version,
                        json_fields::Text(body, "release_version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(r.ek_public, json_fields::Base64(body, "ek_public", kMaxTpmPublicBytes));
  HENB_ASSIGN_OR_RETURN(r.ek_certificate,
                        json_fields::Base64(body, "ek_certificate", kMaxEkCertificateBytes));
  HENB_ASSIGN_OR_RETURN(r.ak_public, json_fields::Base64(body, "ak_public", kMaxTpmPublicBytes));
  HENB_ASSIGN_OR_RETURN(r.tls_public_key,
                        json_fields::Base64(body, "tls_public_key", kMaxTpmPublicBytes));
  HENB_ASSIGN_OR_RETURN(r.agent_address,
                        json_fields::Text(body, "agent_address", kMaxAgentAddressBytes, false));
  HENB_ASSIGN_OR_RETURN(r.recovery_public_key, json_fields::Base64(body, "recovery_public_key",
                                                                   kMaxTpmPublicBytes, false));
  return r;
}

std::string EncodeEnrollmentChallenge(const EnrollmentChallenge& c) {
  return json_fields::Dump({{"device_id", c.device_id},
                            {"credential_blob", Base64Encode(c.credential_blob)},
                            {"encrypted_secret", Base64Encode(c.encrypted_secret)},
                            {"enrollment_token", c.enrollment_token},
                            {"expires_at", c.expires_at}});
}

Result<EnrollmentChallenge> DecodeEnrollmentChallenge(std::string_view text) {
  namespace jf = json_fields;
  EnrollmentChallenge c;
  HENB_ASSIGN_OR_RETURN(nlohmann::json o, AnswerObject(text, "the challenge", c.device_id));
  HENB_ASSIGN_OR_RETURN(c.credential_blob,
                        AsAnswer(jf::Base64(o, "credential_blob", kMaxTpmStructureBytes)));
  HENB_ASSIGN_OR_RETURN(c.encrypted_secret,
                        AsAnswer(jf::Base64(o, "encrypted_secret", kMaxTpmStructureBytes)));
  HENB_ASSIGN_OR_RETURN(c.enrollment_token,
                        AsAnswer(jf::Text(o, "enrollment_token", kMaxEnrollmentTokenBytes)));
  if (c.enrollment_token.empty()) {
    return Error(ErrorCode::kNetStatus, "the PVE's answer: field 'enrollment_token' is empty");
  }
  HENB_ASSIGN_OR_RETURN(c.expires_at, AsAnswer(jf::Int(o, "expires_at", 0, INT64_MAX)));
  return c;
}

std::string EncodeActivationAnswer(const ActivationAnswer& a) {
  nlohmann::json body = {{"enrollment_token", a.enrollment_token},
                         {"proof", Base64Encode(a.proof)},
                         {"tls_signature", Base64Encode(a.tls_signature)}};
  if (!a.recovery_signature.empty())
    body["recovery_signature"] = Base64Encode(a.recovery_signature);
  return json_fields::Dump(body);
}

Result<ActivationAnswer> DecodeActivationAnswer(const nlohmann::json& body) {
  namespace jf = json_fields;
  ActivationAnswer a;
  HENB_ASSIGN_OR_RETURN(a.enrollment_token,
                        jf::Text(body, "enrollment_token", kMaxEnrollmentTokenBytes));
  HENB_ASSIGN_OR_RETURN(a.proof, jf::Base64(body, "proof", kMaxActivationProofBytes));
  HENB_ASSIGN_OR_RETURN(a.tls_signature,
                        jf::Base64(body, "tls_signature", kMaxActivationSignatureBytes));
  HENB_ASSIGN_OR_RETURN(a.recovery_signature, jf::Base64(body, "recovery_signature",
                                                         kMaxActivationSignatureBytes, false));
  return a;
}

std::string EncodeIssuedCredentials(const IssuedCredentials& i) {
  nlohmann::json body = {{"device_id", i.device_id},
                         {"device_certificate", i.device_certificate},
                         {"ca_certificate", i.ca_certificate},
                         {"client_ca_certificate", i.client_ca_certificate}};
  if (!i.recovery_certificate.empty()) body["recovery_certificate"] = i.recovery_certificate;
  return json_fields::Dump(body);
}

Result<IssuedCredentials> DecodeIssuedCredentials(std::string_view text) {
  namespace jf = json_fields;
  IssuedCredentials i;
  HENB_ASSIGN_OR_RETURN(nlohmann::json o, AnswerObject(text, "the credentials", i.device_id));
  for (auto [name, field] : {std::pair{"device_certificate", &i.device_certificate},
                             std::pair{"ca_certificate", &i.ca_certificate},
                             std::pair{"client_ca_certificate", &i.client_ca_certificate}}) {
    HENB_ASSIGN_OR_RETURN(*field, AsAnswer(jf::Text(o, name, kMaxCertificatePemBytes)));
    if (field->empty()) {
      return Error(ErrorCode::kNetStatus,
                   std::string("the PVE's answer: field '") + name + "' is empty");
    }
  }
  HENB_ASSIGN_OR_RETURN(i.recovery_certificate, AsAnswer(jf::Text(o, "recovery_certificate",
                                                                  kMaxCertificatePemBytes, false)));
  return i;
}

Bytes EnrollmentDigest(const EnrollmentFields& r) {
  Hasher h(HashAlg::kSha256);
  for (const std::string* text :
       {&r.device_id, &r.hardware_model, &r.release_id, &r.release_version}) {
    PutField(h, AsBytes(*text));
  }
  for (const Bytes* bytes : {&r.ek_public, &r.ek_certificate, &r.ak_public, &r.tls_public_key}) {
    PutField(h, *bytes);
  }
  PutField(h, AsBytes(r.agent_address));
  if (!r.recovery_public_key.empty()) PutField(h, r.recovery_public_key);
  return h.Finish();
}

Bytes ActivationContext(const EnrollmentFields& request) {
  Bytes context = ToBytes(kActivationContextLabel);
  context.push_back(0);
  Append(context, EnrollmentDigest(request));
  return context;
}

Bytes RecoveryActivationContext(const EnrollmentFields& request) {
  Bytes context = ToBytes(kRecoveryActivationContextLabel);
  context.push_back(0);
  Append(context, EnrollmentDigest(request));
  return context;
}

Bytes ActivationProof(ByteView secret, const EnrollmentFields& request) {
  return Hmac(HashAlg::kSha256, secret, ActivationContext(request));
}

}  // namespace henbtrust
