#include "henbtrust/net/enrollment.h"

#include "henbtrust/crypto/digest.h"
#include "henbtrust/net/api.h"

namespace henbtrust {

namespace {

void PutField(Hasher& h, ByteView field) {
  Bytes length;
  PutU64Be(length, field.size());
  h.Update(length);
  h.Update(field);
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
  return body;
}

Result<EnrollmentFields> DecodeEnrollmentFields(const nlohmann::json& body) {
  using api::Base64Field;
  using api::TextField;
  EnrollmentFields r;
  HENB_ASSIGN_OR_RETURN(r.device_id, TextField(body, "device_id", kMaxDeviceIdBytes));
  HENB_ASSIGN_OR_RETURN(r.hardware_model,
                        TextField(body, "hardware_model", kMaxHardwareModelBytes));
  HENB_ASSIGN_OR_RETURN(r.release_id, TextField(body, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(r.release_version,
                        TextField(body, "release_version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(r.ek_public, Base64Field(body, "ek_public", kMaxTpmPublicBytes));
  HENB_ASSIGN_OR_RETURN(r.ek_certificate,
                        Base64Field(body, "ek_certificate", kMaxEkCertificateBytes));
  HENB_ASSIGN_OR_RETURN(r.ak_public, Base64Field(body, "ak_public", kMaxTpmPublicBytes));
  HENB_ASSIGN_OR_RETURN(r.tls_public_key, Base64Field(body, "tls_public_key", kMaxTpmPublicBytes));
  HENB_ASSIGN_OR_RETURN(r.agent_address,
                        TextField(body, "agent_address", kMaxAgentAddressBytes, false));
  return r;
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
  return h.Finish();
}

Bytes ActivationContext(const EnrollmentFields& request) {
  Bytes context = ToBytes("henbtrust activation v2");
  context.push_back(0);
  Append(context, EnrollmentDigest(request));
  return context;
}

Bytes ActivationProof(ByteView secret, const EnrollmentFields& request) {
  return Hmac(HashAlg::kSha256, secret, ActivationContext(request));
}

}  // namespace henbtrust
