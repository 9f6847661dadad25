// Certificate renewal (docs/pve.md, "Certificate renewal and
// decommissioning"): a device renews its certificate over its current one,
// with evidence appraised for the renewal. The appraisal is made and
// recorded as a push's (the nonce spent with it); only an affirming one
// issues the new certificate, which replaces the recorded serial in one
// transaction with its audit entry.
#include <chrono>

#include "henbtrust/core/file.h"
#include "henbtrust/net/identity_protocol.h"
#include "pve/service_impl.h"

namespace henbtrust {

using namespace api;

namespace {

Error Refused(const std::string& why) { return Error(ErrorCode::kPolicyRenewal, why); }

// The new key must be one the device holds, and not the one it has.
Result<PublicKey> CheckNewKey(const HttpRequest& req, const std::string& device_id,
                              const RenewalRequest& request) {
  auto key = PublicKey::FromDer(request.tls_public_key);
  if (!key.ok()) return BadRequest("tls_public_key is not a DER SubjectPublicKeyInfo");
  const SignatureScheme scheme =
      key->type() == KeyType::kRsa ? SignatureScheme::kRsaPkcs1 : SignatureScheme::kEcdsa;
  const Bytes context = RenewalContext(device_id, request.evidence.nonce, request.tls_public_key);
  if (!key->Verify(scheme, HashAlg::kSha256, context, request.tls_signature).ok()) {
    return Refused("tls_signature does not verify: the device does not hold the new key");
  }
  auto current = Certificate::FromDer(req.peer.certificate_der);
  if (current.ok()) {
    auto current_key = current->SubjectKey();
    if (current_key.ok() && Equal(current_key->ToDer(), request.tls_public_key)) {
      return Refused("a renewed certificate needs a new key, not the current certificate's");
    }
  }
  return std::move(key).value();
}

}  // namespace

Result<HttpResponse> PveService::Impl::RenewCertificate(const HttpRequest& req,
                                                        const std::string& device_id) {
  if (req.peer.common_name != device_id) {
    return Error(ErrorCode::kNetForbidden, "a device may renew only its own certificate");
  }
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(RenewalRequest request, DecodeRenewalRequest(body));
  if (!request.evidence.device_id.empty() && request.evidence.device_id != device_id) {
    return Error(ErrorCode::kNetForbidden, "evidence for " + request.evidence.device_id +
                                               " sent for the renewal of " + device_id);
  }
  // The caller's certificate must be the device's current one, and the
  // device in service.
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadCaller(req));
  HENB_ASSIGN_OR_RETURN(PublicKey key, CheckNewKey(req, device_id, request));

  const Bytes nonce = request.evidence.nonce;
  const Bytes qualifying = RenewalQualifyingData(device_id, nonce, request.tls_public_key);
  HENB_ASSIGN_OR_RETURN(Prepared p, Appraise(device, EvidenceOf(std::move(request.evidence)), nonce,
                                             /*nonce_checked=*/false,
                                             /*offer_next_nonce=*/false, qualifying));
  HENB_ASSIGN_OR_RETURN(int64_t appraisal_id, store.RecordAppraisal(p.record));
  CountVerdict(p.verdict);
  const std::string& old_serial = device.certificate_serial;
  if (p.verdict != ArStatus::kAffirming) {
    return Refused("appraisal " + std::to_string(appraisal_id) + " made for the renewal is " +
                   std::string(ArStatusName(p.verdict)) + ": " + p.detail +
                   "; the current certificate stays valid until it expires");
  }

  const int64_t now = config.now();
  HENB_ASSIGN_OR_RETURN(Certificate cert, IssueDeviceCertificate(config, device, key, now));
  const std::string serial = cert.SerialHex();
  const int64_t not_after = std::chrono::system_clock::to_time_t(cert.NotAfter());
  HENB_TRY(store.RenewDeviceCertificate(
      device_id, old_serial, serial, now,
      AuditEntry{0,
                 now,
                 "device:" + device_id,
                 "device:" + device_id,
                 "certificate renewed",
                 device_id + ": certificate " + (old_serial.empty() ? "?" : old_serial) + " -> " +
                     serial + ", valid until " + FormatUtc(not_after) + " (appraisal " +
                     std::to_string(appraisal_id) + ")",
                 {},
                 {}}));
  return JsonText(200, EncodeRenewalAnswer(
                           {device_id, cert.ToPem(), serial, old_serial, not_after, appraisal_id}));
}

}  // namespace henbtrust
