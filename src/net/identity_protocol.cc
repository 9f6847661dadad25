#include "henbtrust/net/identity_protocol.h"

#include "henbtrust/core/json_fields.h"
#include "henbtrust/crypto/digest.h"

namespace henbtrust {

namespace {

namespace jf = json_fields;

// An answer a device or a tool reads: the PVE's fault is kNetStatus.
template <typename T>
Result<T> AsAnswer(Result<T> read) {
  if (read.ok()) return read;
  return Error(ErrorCode::kNetStatus, "the PVE's answer: " + read.error().message());
}

void PutField(Hasher& h, ByteView field) {
  Bytes length;
  PutU64Be(length, field.size());
  h.Update(length);
  h.Update(field);
}

Bytes Labelled(const char* label, ByteView digest) {
  Bytes out = ToBytes(label);
  out.push_back(0);
  Append(out, digest);
  return out;
}

// The largest answer: a certificate and a few short members.
constexpr size_t kMaxRenewalAnswerBytes = kMaxCertificatePemBytes + 1024;
constexpr size_t kMaxDecommissionAnswerBytes = kMaxReasonBytes * 7 + 1024;

}  // namespace

std::string EncodeRenewalRequest(const RenewalRequest& r) {
  nlohmann::json body = {{"nonce", Base64Encode(r.evidence.nonce)},
                         {"attest", Base64Encode(r.evidence.attest)},
                         {"signature", Base64Encode(r.evidence.signature)},
                         {"tls_public_key", Base64Encode(r.tls_public_key)},
                         {"tls_signature", Base64Encode(r.tls_signature)}};
  if (!r.evidence.event_log.empty()) body["event_log"] = Base64Encode(r.evidence.event_log);
  if (!r.evidence.device_id.empty()) body["device_id"] = r.evidence.device_id;
  return jf::Dump(body);
}

Result<RenewalRequest> DecodeRenewalRequest(const nlohmann::json& body) {
  RenewalRequest r;
  HENB_ASSIGN_OR_RETURN(r.evidence, DecodeEvidence(body));
  HENB_ASSIGN_OR_RETURN(r.tls_public_key, jf::Base64(body, "tls_public_key", kMaxTpmPublicBytes));
  HENB_ASSIGN_OR_RETURN(r.tls_signature,
                        jf::Base64(body, "tls_signature", kMaxActivationSignatureBytes));
  return r;
}

std::string EncodeRenewalAnswer(const RenewalAnswer& a) {
  return jf::Dump({{"device_id", a.device_id},
                   {"device_certificate", a.device_certificate},
                   {"certificate_serial", a.certificate_serial},
                   {"previous_serial", a.previous_serial},
                   {"not_after", a.not_after},
                   {"appraisal_id", a.appraisal_id}});
}

Result<RenewalAnswer> DecodeRenewalAnswer(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(nlohmann::json o,
                        AsAnswer(jf::ParseObject(text, "the renewal", kMaxRenewalAnswerBytes)));
  RenewalAnswer a;
  HENB_ASSIGN_OR_RETURN(a.device_id, AsAnswer(jf::Text(o, "device_id", kMaxDeviceIdBytes)));
  HENB_ASSIGN_OR_RETURN(a.device_certificate,
                        AsAnswer(jf::Text(o, "device_certificate", kMaxCertificatePemBytes)));
  HENB_ASSIGN_OR_RETURN(a.certificate_serial,
                        AsAnswer(jf::Text(o, "certificate_serial", kMaxCertificateSerialBytes)));
  HENB_ASSIGN_OR_RETURN(a.previous_serial,
                        AsAnswer(jf::Text(o, "previous_serial", kMaxCertificateSerialBytes)));
  HENB_ASSIGN_OR_RETURN(a.not_after, AsAnswer(jf::Int(o, "not_after", 0, INT64_MAX)));
  HENB_ASSIGN_OR_RETURN(a.appraisal_id, AsAnswer(jf::Int(o, "appraisal_id", 0, INT64_MAX)));
  for (auto [name, field] : {std::pair{"device_id", &a.device_id},
                             std::pair{"device_certificate", &a.device_certificate},
                             std::pair{"certificate_serial", &a.certificate_serial}}) {
    if (field->empty()) {
      return Error(ErrorCode::kNetStatus,
                   std::string("the PVE's answer: field '") + name + "' is empty");
    }
  }
  return a;
}

Bytes RenewalQualifyingData(std::string_view device_id, ByteView nonce, ByteView tls_public_key) {
  Hasher h(HashAlg::kSha256);
  const Bytes label = Labelled("henbtrust certificate renewal v1", {});
  h.Update(label);
  PutField(h, AsBytes(device_id));
  PutField(h, nonce);
  PutField(h, tls_public_key);
  return h.Finish();
}

Bytes RenewalContext(std::string_view device_id, ByteView nonce, ByteView tls_public_key) {
  return Labelled("henbtrust certificate renewal key v1",
                  RenewalQualifyingData(device_id, nonce, tls_public_key));
}

std::string EncodeDecommissionRequest(const DecommissionRequest& r) {
  return jf::Dump({{"reason", r.reason}});
}

Result<DecommissionRequest> DecodeDecommissionRequest(const nlohmann::json& body) {
  DecommissionRequest r;
  HENB_ASSIGN_OR_RETURN(r.reason, jf::Text(body, "reason", kMaxReasonBytes, /*required=*/false));
  return r;
}

std::string EncodeDecommissionAnswer(const DecommissionAnswer& a) {
  return jf::Dump({{"device_id", a.device_id},
                   {"state", a.state},
                   {"certificate_serial", a.certificate_serial},
                   {"reason", a.reason}});
}

Result<DecommissionAnswer> DecodeDecommissionAnswer(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(nlohmann::json o, AsAnswer(jf::ParseObject(text, "the decommissioning",
                                                                   kMaxDecommissionAnswerBytes)));
  DecommissionAnswer a;
  HENB_ASSIGN_OR_RETURN(a.device_id, AsAnswer(jf::Text(o, "device_id", kMaxDeviceIdBytes)));
  HENB_ASSIGN_OR_RETURN(a.state, AsAnswer(jf::Text(o, "state", kMaxStatusBytes)));
  HENB_ASSIGN_OR_RETURN(a.certificate_serial,
                        AsAnswer(jf::Text(o, "certificate_serial", kMaxCertificateSerialBytes)));
  HENB_ASSIGN_OR_RETURN(a.reason, AsAnswer(jf::Text(o, "reason", kMaxReasonBytes)));
  if (a.device_id.empty() || a.state.empty()) {
    return Error(ErrorCode::kNetStatus, "the PVE's answer: no device_id or state");
  }
  return a;
}

}  // namespace henbtrust
