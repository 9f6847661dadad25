#include "henbtrust/agent/renewal.h"

#include "agent/refusal.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/identity_protocol.h"

namespace henbtrust {

Result<DeviceCredentials> RenewCertificate(HttpClient& pve, Tre& tre, const std::string& device_id,
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

}  // namespace henbtrust
