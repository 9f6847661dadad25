#include "henbtrust/agent/agent.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "agent/refusal.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/device/device.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/deferral_ticket.h"
#include "henbtrust/net/enrollment.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/net/pve_protocol.h"
#include "henbtrust/tpm/quote_verifier.h"

namespace henbtrust {

Error PveRefusal(const std::string& what, const HttpResponse& answer) {
  std::string detail = answer.body.substr(0, 300);
  if (auto error = DecodeErrorAnswer(answer.body)) detail = error->code + ": " + error->message;
  return Error(ErrorCode::kNetStatus,
               what + " refused (HTTP " + std::to_string(answer.status) + "): " + detail);
}

namespace {

using Json = nlohmann::json;

HttpResponse Answer(int status, const std::string& code, const std::string& message) {
  return {status,
          "application/json",
          Json{{"error", {{"code", code}, {"message", message}}}}.dump(),
          {}};
}

}  // namespace

Result<DeviceCredentials> Enroll(const std::string& host, uint16_t port,
                                 const std::string& pve_ca_pem, Tre& tre,
                                 const EnrollmentRequest& request) {
  HENB_ASSIGN_OR_RETURN(auto client,
                        HttpClient::Connect(host, port, TlsConfig{"", "", pve_ca_pem}));
  return Enroll(*client, tre, request);
}

Result<DeviceCredentials> Enroll(HttpChannel& pve, Tre& tre, const EnrollmentRequest& request) {
  HENB_ASSIGN_OR_RETURN(PrivateKey tls_key, PrivateKey::Generate(KeyType::kEcP256));
  const EnrollmentFields sent{
      request.device_id,     request.hardware_model,
      request.release_id,    request.release_version,
      tre.EkPublic(),        request.ek_certificate,
      tre.AkPublic(),        tls_key.Public().ToDer(),
      request.agent_address, request.recovery ? request.recovery->PublicKeyDer() : Bytes()};
  HENB_ASSIGN_OR_RETURN(HttpResponse challenge,
                        pve.Request("POST", "/v1/enrollments", "application/json",
                                    EncodeEnrollmentFields(sent).dump()));
  if (challenge.status != 201) return PveRefusal("enrollment", challenge);
  HENB_ASSIGN_OR_RETURN(EnrollmentChallenge c, DecodeEnrollmentChallenge(challenge.body));
  HENB_ASSIGN_OR_RETURN(Bytes secret,
                        tre.ActivateCredential(c.credential_blob, c.encrypted_secret));
  // The secret stays here: the proof binds it to the request sent above.
  HENB_ASSIGN_OR_RETURN(Bytes signature, tls_key.Sign(SignatureScheme::kEcdsa, HashAlg::kSha256,
                                                      ActivationContext(sent)));
  Bytes recovery_signature;
  if (request.recovery) {
    HENB_ASSIGN_OR_RETURN(recovery_signature,
                          request.recovery->SignActivation(RecoveryActivationContext(sent)));
  }
  const ActivationAnswer proof{std::move(c.enrollment_token), ActivationProof(secret, sent),
                               std::move(signature), std::move(recovery_signature)};
  HENB_ASSIGN_OR_RETURN(HttpResponse issued,
                        pve.Request("POST", "/v1/enrollments/" + request.device_id + "/activation",
                                    "application/json", EncodeActivationAnswer(proof)));
  if (issued.status != 200) return PveRefusal("credential activation", issued);
  HENB_ASSIGN_OR_RETURN(IssuedCredentials i, DecodeIssuedCredentials(issued.body));
  // The device certificate is issued (and its predecessor refused from now
  // on): a recovery certificate that cannot be kept does not throw it away.
  std::string recovery_problem;
  if (request.recovery) {
    if (i.recovery_certificate.empty()) {
      recovery_problem = "the PVE issued no recovery certificate for the recovery key";
    } else if (auto st = request.recovery->StoreCertificate(i.recovery_certificate,
                                                            i.client_ca_certificate);
               !st.ok()) {
      recovery_problem = st.error().message();
    }
  }
  return DeviceCredentials{std::move(i.device_certificate), tls_key.ToPem(),
                           std::move(i.ca_certificate), std::move(i.client_ca_certificate),
                           std::move(recovery_problem)};
}

Result<DeviceCredentials> EnrollDevice(const std::string& host, uint16_t port,
                                       const std::string& pve_ca_pem, Device& device,
                                       EnrollmentRequest request) {
  HENB_ASSIGN_OR_RETURN(auto client,
                        HttpClient::Connect(host, port, TlsConfig{"", "", pve_ca_pem}));
  return EnrollDevice(*client, device, std::move(request));
}

Result<DeviceCredentials> EnrollDevice(HttpChannel& pve, Device& device,
                                       EnrollmentRequest request) {
  std::optional<RecoveryIdentity> recovery;
  if (auto identity = device.RecoveryIdentityForEnrollment(); identity.ok()) {
    recovery.emplace(std::move(identity).value());
    request.recovery = &*recovery;
  } else if (identity.error().code() != ErrorCode::kNotFound) {
    return identity.error();
  }
  return Enroll(pve, device.tre(), request);
}

TlsConfig DeviceTls(const DeviceCredentials& credentials) {
  return {credentials.certificate_pem, credentials.private_key_pem, credentials.ca_pem};
}

TlsConfig ResponderTls(const DeviceCredentials& credentials) {
  return {credentials.certificate_pem, credentials.private_key_pem, credentials.client_ca_pem};
}

namespace {

// Whether a boot stage measured itself into this boot's log.
bool HasBootStage(const Tre& tre) {
  const auto& events = tre.event_log().events();
  return std::any_of(events.begin(), events.end(), [](const Event& e) {
    return e.pcr == kBootStagePcr && ToString(e.data).starts_with(kBootStageEventPrefix);
  });
}

}  // namespace

Result<std::string> EvidenceJson(Tre& tre, ByteView nonce,
                                 const std::vector<PcrSelection>& selection, bool with_log) {
  HENB_ASSIGN_OR_RETURN(Quote quote, tre.MakeQuote(nonce, selection));
  std::optional<Quote> boot_stage;
  if (with_log && HasBootStage(tre)) {
    HENB_ASSIGN_OR_RETURN(boot_stage, tre.MakeQuote(nonce, {{HashAlg::kSha256, {kBootStagePcr}}}));
  }
  return EvidenceText(quote, nonce, with_log ? Base64Encode(tre.event_log().Serialize()) : "",
                      boot_stage ? &*boot_stage : nullptr);
}

std::string EvidenceText(const Quote& quote, ByteView nonce, std::string_view event_log_base64,
                         const Quote* boot_stage) {
  EvidenceMessage evidence;
  evidence.nonce.assign(nonce.begin(), nonce.end());
  evidence.attest = quote.attest;
  evidence.signature = quote.signature;
  if (boot_stage != nullptr) {
    evidence.boot_stage_attest = boot_stage->attest;
    evidence.boot_stage_signature = boot_stage->signature;
  }
  return EncodeEvidence(evidence, event_log_base64);
}

namespace {

Result<PushNonce> PushNonceOf(NonceAnswer answer) {
  PushNonce out;
  out.nonce = std::move(answer.nonce);
  out.expires_at = answer.expires_at;
  HENB_ASSIGN_OR_RETURN(out.selection, ParsePcrSelectionSpec(answer.pcr_selection));
  return out;
}

Result<PushNonce> FetchNonce(HttpChannel& pve) {
  HENB_ASSIGN_OR_RETURN(HttpResponse issued,
                        pve.Request("POST", "/v1/nonces", "application/json", "{}"));
  if (issued.status != 200) return PveRefusal("nonce request", issued);
  return NonceFromAnswer(issued.body);
}

bool IsNonceRefusal(const HttpResponse& r) {
  if (r.status != 409) return false;
  const auto error = DecodeErrorAnswer(r.body);
  return error && error->code == ErrorCodeName(ErrorCode::kPolicyNonce);
}

}  // namespace

Result<HttpResponse> AttestOnce(HttpChannel& pve, Tre& tre, bool with_log, PushNonce* held) {
  PushNonce local;
  if (held == nullptr) held = &local;
  const bool had_one = !held->nonce.empty() && held->expires_at > UnixSeconds();
  if (!had_one) {
    HENB_ASSIGN_OR_RETURN(*held, FetchNonce(pve));
  }
  PushNonce nonce = std::move(*held);
  *held = {};
  HENB_ASSIGN_OR_RETURN(std::string evidence,
                        EvidenceJson(tre, nonce.nonce, nonce.selection, with_log));
  HENB_ASSIGN_OR_RETURN(HttpResponse answer,
                        pve.Request("POST", "/v1/evidence", "application/json", evidence));
  if (had_one && IsNonceRefusal(answer)) return AttestOnce(pve, tre, with_log, held);
  if (answer.status == 200 || answer.status == 422) {
    if (auto next = NextNonceFromResult(answer.body)) *held = std::move(*next);
  }
  return answer;
}

Result<PushNonce> NonceFromAnswer(const std::string& body) {
  HENB_ASSIGN_OR_RETURN(NonceAnswer answer, DecodeNonceAnswer(body));
  return PushNonceOf(std::move(answer));
}

std::optional<PushNonce> NextNonceFromResult(const std::string& body) {
  auto next = DecodeNextNonce(body);
  if (!next.ok() || !next->has_value()) return std::nullopt;
  auto nonce = PushNonceOf(std::move(**next));
  if (!nonce.ok()) return std::nullopt;
  return std::move(nonce).value();
}

HttpHandler IntegrityResponder(Tre& tre, std::mutex& tre_mu) {
  return [&tre, &tre_mu](const HttpRequest& req) -> HttpResponse {
    if (req.target != "/v1/integrity-request" || req.method != "POST")
      return Answer(404, "net.not-found", "no endpoint " + req.method + " " + req.target);
    if (!req.peer.verified || req.peer.organization != kRolePve)
      return Answer(401, "net.unauthenticated", "only the PVE may request evidence");
    auto request = DecodeIntegrityRequest(req.body);
    if (!request.ok()) return Answer(400, "net.bad-request", request.error().message());
    auto selection = ParsePcrSelectionSpec(request->pcr_selection);
    if (!selection.ok()) return Answer(400, "net.bad-request", selection.error().message());
    std::lock_guard<std::mutex> lock(tre_mu);
    auto evidence = EvidenceJson(tre, request->nonce, *selection);
    if (!evidence.ok()) {
      return Answer(500, std::string(ErrorCodeName(evidence.error().code())),
                    evidence.error().message());
    }
    return {200, "application/json", std::move(evidence).value(), {}};
  };
}

}  // namespace henbtrust
