#include "henbtrust/agent/renewal.h"

#include <chrono>

#include "agent/refusal.h"
#include "henbtrust/agent/credential_store.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/identity_protocol.h"

namespace henbtrust {

Result<DeviceCredentials> RenewCertificate(HttpChannel& pve, Tre& tre, const std::string& device_id,
                                           const DeviceCredentials& current, bool with_log) {
  HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  const Bytes spki = key.Public().ToDer();
  HENB_ASSIGN_OR_RETURN(HttpResponse issued,
                        pve.Request("POST", "/v1/nonces", "application/json", "{}"));
  if (issued.status != 200) return PveRefusal("nonce request", issued);
  HENB_ASSIGN_OR_RETURN(PushNonce nonce, NonceFromAnswer(issued.body));
  HENB_ASSIGN_OR_RETURN(
      Quote quote,
      tre.MakeQuote(RenewalQualifyingData(device_id, nonce.nonce, spki), nonce.selection));
  RenewalRequest request;
  request.evidence.nonce = nonce.nonce;
  request.evidence.attest = std::move(quote.attest);
  request.evidence.signature = std::move(quote.signature);
  if (with_log) request.evidence.event_log = tre.event_log().Serialize();
  request.tls_public_key = spki;
  HENB_ASSIGN_OR_RETURN(request.tls_signature,
                        key.Sign(SignatureScheme::kEcdsa, HashAlg::kSha256,
                                 RenewalContext(device_id, nonce.nonce, spki)));
  HENB_ASSIGN_OR_RETURN(HttpResponse answer,
                        pve.Request("POST", "/v1/devices/" + device_id + "/certificate-renewal",
                                    "application/json", EncodeRenewalRequest(request)));
  if (answer.status != 200) return PveRefusal("certificate renewal", answer);
  HENB_ASSIGN_OR_RETURN(RenewalAnswer renewed, DecodeRenewalAnswer(answer.body));
  // Kept only if it is this device's certificate for the new key.
  auto cert = Certificate::FromPem(renewed.device_certificate);
  if (!cert.ok()) {
    return Error(ErrorCode::kNetStatus, "the PVE's renewal: the certificate does not parse");
  }
  auto named = cert->SubjectKey();
  if (!named.ok() || !Equal(named->ToDer(), spki) || cert->SubjectField("CN") != device_id) {
    return Error(ErrorCode::kNetStatus,
                 "the PVE's renewal: the certificate is not " + device_id + "'s for the new key");
  }
  return DeviceCredentials{std::move(renewed.device_certificate), key.ToPem(), current.ca_pem,
                           current.client_ca_pem};
}

Result<bool> RenewalDue(const std::string& certificate_pem, int64_t now, int64_t window_seconds) {
  HENB_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromPem(certificate_pem));
  const int64_t not_after = std::chrono::system_clock::to_time_t(cert.NotAfter());
  return not_after - now <= window_seconds;
}

Result<bool> RenewIfDue(HttpChannel& pve, Tre& tre, const RenewalRound& round,
                        DeviceCredentials* credentials) {
  HENB_ASSIGN_OR_RETURN(bool due,
                        RenewalDue(credentials->certificate_pem, round.now, round.window_seconds));
  if (!due) return false;
  HENB_ASSIGN_OR_RETURN(DeviceCredentials renewed,
                        RenewCertificate(pve, tre, round.device_id, *credentials, round.with_log));
  const Status kept = StoreCredentials(round.env, round.dir, renewed);
  *credentials = std::move(renewed);
  if (!kept.ok()) {
    return kept.error().WithContext("the renewed certificate is in use but could not be kept in " +
                                    round.dir);
  }
  return true;
}

}  // namespace henbtrust
