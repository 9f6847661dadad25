#include "henbtrust/agent/agent.h"

#include <nlohmann/json.hpp>

#include <charconv>

#include "henbtrust/core/file.h"
#include "henbtrust/core/json_text.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/enrollment.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/tpm/quote_verifier.h"

namespace henbtrust {

namespace {

using Json = nlohmann::json;

constexpr size_t kMaxNonce = 64;

Error Refused(const std::string& what, const HttpResponse& answer) {
  const Json body = api::ParseUntrustedJson(answer.body);
  std::string detail = answer.body.substr(0, 300);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    detail = body["error"].value("code", "") + ": " + body["error"].value("message", "");
  }
  return Error(ErrorCode::kNetStatus,
               what + " refused (HTTP " + std::to_string(answer.status) + "): " + detail);
}

Result<Json> JsonOf(const HttpResponse& answer) {
  Json body = api::ParseUntrustedJson(answer.body);
  if (!body.is_object()) return Error(ErrorCode::kNetStatus, "the PVE answered with non-JSON");
  return body;
}

Result<Bytes> Base64Of(const Json& body, const char* name) {
  if (!body.contains(name) || !body[name].is_string())
    return Error(ErrorCode::kNetStatus, std::string("the answer lacks '") + name + "'");
  return Base64Decode(body[name].get<std::string>());
}

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
  HENB_ASSIGN_OR_RETURN(PrivateKey tls_key, PrivateKey::Generate(KeyType::kEcP256));
  HENB_ASSIGN_OR_RETURN(auto client,
                        HttpClient::Connect(host, port, TlsConfig{"", "", pve_ca_pem}));
  const EnrollmentFields sent{
      request.device_id,       request.hardware_model,   request.release_id,
      request.release_version, tre.EkPublic(),           request.ek_certificate,
      tre.AkPublic(),          tls_key.Public().ToDer(), request.agent_address};
  HENB_ASSIGN_OR_RETURN(HttpResponse challenge,
                        client->Request("POST", "/v1/enrollments", "application/json",
                                        EncodeEnrollmentFields(sent).dump()));
  if (challenge.status != 201) return Refused("enrollment", challenge);
  HENB_ASSIGN_OR_RETURN(Json c, JsonOf(challenge));
  HENB_ASSIGN_OR_RETURN(Bytes blob, Base64Of(c, "credential_blob"));
  HENB_ASSIGN_OR_RETURN(Bytes secret_enc, Base64Of(c, "encrypted_secret"));
  if (!c.contains("enrollment_token") || !c["enrollment_token"].is_string())
    return Error(ErrorCode::kNetStatus, "the answer lacks 'enrollment_token'");
  HENB_ASSIGN_OR_RETURN(Bytes secret, tre.ActivateCredential(blob, secret_enc));
  // The secret stays here: the proof binds it to the request sent above.
  HENB_ASSIGN_OR_RETURN(Bytes signature, tls_key.Sign(SignatureScheme::kEcdsa, HashAlg::kSha256,
                                                      ActivationContext(sent)));
  const Json proof = {{"enrollment_token", c["enrollment_token"]},
                      {"proof", Base64Encode(ActivationProof(secret, sent))},
                      {"tls_signature", Base64Encode(signature)}};
  HENB_ASSIGN_OR_RETURN(
      HttpResponse issued,
      client->Request("POST", "/v1/enrollments/" + request.device_id + "/activation",
                      "application/json", proof.dump()));
  if (issued.status != 200) return Refused("credential activation", issued);
  HENB_ASSIGN_OR_RETURN(Json i, JsonOf(issued));
  if (!i.contains("device_certificate") || !i["device_certificate"].is_string() ||
      !i.contains("ca_certificate") || !i["ca_certificate"].is_string() ||
      !i.contains("client_ca_certificate") || !i["client_ca_certificate"].is_string()) {
    return Error(ErrorCode::kNetStatus, "the PVE's answer lacks the device certificate");
  }
  return DeviceCredentials{i["device_certificate"].get<std::string>(), tls_key.ToPem(),
                           i["ca_certificate"].get<std::string>(),
                           i["client_ca_certificate"].get<std::string>()};
}

TlsConfig DeviceTls(const DeviceCredentials& credentials) {
  return {credentials.certificate_pem, credentials.private_key_pem, credentials.ca_pem};
}

TlsConfig ResponderTls(const DeviceCredentials& credentials) {
  return {credentials.certificate_pem, credentials.private_key_pem, credentials.client_ca_pem};
}

Result<std::string> EvidenceJson(Tre& tre, ByteView nonce,
                                 const std::vector<PcrSelection>& selection, bool with_log) {
  HENB_ASSIGN_OR_RETURN(Quote quote, tre.MakeQuote(nonce, selection));
  return EvidenceText(quote, nonce, with_log ? Base64Encode(tre.event_log().Serialize()) : "");
}

std::string EvidenceText(const Quote& quote, ByteView nonce, std::string_view event_log_base64) {
  // Written as text: the event log is most of it, and base64 needs no escapes.
  std::string body;
  body.reserve(event_log_base64.size() + 4 * (quote.attest.size() + quote.signature.size()) / 3 +
               128);
  JsonObjectWriter out(body);
  out.String("attest", Base64Encode(quote.attest));
  if (!event_log_base64.empty()) out.String("event_log", event_log_base64);
  out.String("nonce", Base64Encode(nonce)).String("signature", Base64Encode(quote.signature));
  out.Close();
  return body;
}

namespace {

Result<PushNonce> NonceFrom(const Json& n) {
  PushNonce out;
  HENB_ASSIGN_OR_RETURN(out.nonce, Base64Of(n, "nonce"));
  if (out.nonce.empty() || out.nonce.size() > kMaxNonce)
    return Error(ErrorCode::kNetStatus, "the PVE's nonce has a bad size");
  if (!n.contains("pcr_selection") || !n["pcr_selection"].is_string())
    return Error(ErrorCode::kNetStatus, "the nonce answer lacks 'pcr_selection'");
  HENB_ASSIGN_OR_RETURN(out.selection,
                        ParsePcrSelectionSpec(n["pcr_selection"].get<std::string>()));
  if (n.contains("expires_at") && n["expires_at"].is_number_integer())
    out.expires_at = n["expires_at"].get<int64_t>();
  return out;
}

// NonceFrom, read from the object's text without a document: nullopt where
// the scan is not sure of all three members, or expires_at is not an
// integer that fits, for NonceFrom over a parsed document to decide.
std::optional<Result<PushNonce>> NonceFromText(std::string_view text) {
  const JsonMemberScan nonce = ScanJsonMember(text, "nonce");
  const JsonMemberScan selection = ScanJsonMember(text, "pcr_selection");
  const JsonMemberScan expires = ScanJsonMember(text, "expires_at");
  if (!nonce.sure || !selection.sure || !expires.sure) return std::nullopt;
  // Where the scan is sure, a string is its text between the quotes.
  auto string_of = [](const JsonMemberScan& m) -> std::optional<std::string_view> {
    if (!m.found || m.value.size() < 2 || m.value.front() != '"') return std::nullopt;
    return m.value.substr(1, m.value.size() - 2);
  };
  PushNonce out;
  if (expires.found && expires.value.front() != '"' && expires.value.front() != '{' &&
      expires.value.front() != '[') {
    const char* end = expires.value.data() + expires.value.size();
    const auto [at, ec] = std::from_chars(expires.value.data(), end, out.expires_at);
    if (ec != std::errc() || at != end) return std::nullopt;
  }
  const auto n = string_of(nonce);
  if (!n) return Result<PushNonce>(Error(ErrorCode::kNetStatus, "the answer lacks 'nonce'"));
  auto decoded = Base64Decode(*n);
  if (!decoded.ok()) return Result<PushNonce>(decoded.error());
  out.nonce = std::move(decoded).value();
  if (out.nonce.empty() || out.nonce.size() > kMaxNonce)
    return Result<PushNonce>(Error(ErrorCode::kNetStatus, "the PVE's nonce has a bad size"));
  const auto sel = string_of(selection);
  if (!sel)
    return Result<PushNonce>(
        Error(ErrorCode::kNetStatus, "the nonce answer lacks 'pcr_selection'"));
  auto parsed = ParsePcrSelectionSpec(std::string(*sel));
  if (!parsed.ok()) return Result<PushNonce>(parsed.error());
  out.selection = std::move(parsed).value();
  return Result<PushNonce>(std::move(out));
}

Result<PushNonce> FetchNonce(HttpClient& pve) {
  HENB_ASSIGN_OR_RETURN(HttpResponse issued,
                        pve.Request("POST", "/v1/nonces", "application/json", "{}"));
  if (issued.status != 200) return Refused("nonce request", issued);
  return NonceFromAnswer(issued.body);
}

bool IsNonceRefusal(const HttpResponse& r) {
  if (r.status != 409) return false;
  const Json body = api::ParseUntrustedJson(r.body);
  return body.is_object() && body.contains("error") && body["error"].is_object() &&
         body["error"].value("code", "") == ErrorCodeName(ErrorCode::kPolicyNonce);
}

}  // namespace

Result<HttpResponse> AttestOnce(HttpClient& pve, Tre& tre, bool with_log, PushNonce* held) {
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
  const Json n = api::ParseUntrustedJson(body);
  if (!n.is_object()) return Error(ErrorCode::kNetStatus, "the PVE answered with non-JSON");
  return NonceFrom(n);
}

std::optional<PushNonce> NextNonceFromResult(const std::string& body) {
  // Most of the answer is the signed result, which the device does not read:
  // find the member without building a document of all of it.
  Json next_nonce;
  const JsonMemberScan scan = ScanJsonMember(body, "next_nonce");
  if (scan.sure) {
    if (!scan.found) return std::nullopt;
    if (scan.value.front() != '{') return std::nullopt;
    if (auto quick = NonceFromText(scan.value)) {
      if (!quick->ok()) return std::nullopt;
      return std::move(*quick).value();
    }
    next_nonce = api::ParseUntrustedJson(scan.value);
  } else {
    Json result = api::ParseUntrustedJson(body);
    if (!result.is_object() || !result.contains("next_nonce")) return std::nullopt;
    next_nonce = std::move(result["next_nonce"]);
  }
  if (!next_nonce.is_object()) return std::nullopt;
  auto next = NonceFrom(next_nonce);
  if (!next.ok()) return std::nullopt;
  return std::move(next).value();
}

HttpHandler IntegrityResponder(Tre& tre, std::mutex& tre_mu) {
  return [&tre, &tre_mu](const HttpRequest& req) -> HttpResponse {
    if (req.target != "/v1/integrity-request" || req.method != "POST")
      return Answer(404, "net.not-found", "no endpoint " + req.method + " " + req.target);
    if (!req.peer.verified || req.peer.organization != kRolePve)
      return Answer(401, "net.unauthenticated", "only the PVE may request evidence");
    const Json body = api::ParseUntrustedJson(req.body);
    if (!body.is_object() || !body.contains("nonce") || !body["nonce"].is_string() ||
        !body.contains("pcr_selection") || !body["pcr_selection"].is_string()) {
      return Answer(400, "net.bad-request", "expected {nonce, pcr_selection}");
    }
    auto nonce = Base64Decode(body["nonce"].get<std::string>());
    if (!nonce.ok() || nonce->empty() || nonce->size() > kMaxNonce)
      return Answer(400, "net.bad-request", "bad nonce");
    auto selection = ParsePcrSelectionSpec(body["pcr_selection"].get<std::string>());
    if (!selection.ok()) return Answer(400, "net.bad-request", selection.error().message());
    std::lock_guard<std::mutex> lock(tre_mu);
    auto evidence = EvidenceJson(tre, *nonce, *selection);
    if (!evidence.ok())
      return Answer(500, std::string(ErrorCodeName(evidence.error().code())),
                    evidence.error().message());
    return {200, "application/json", std::move(evidence).value(), {}};
  };
}

}  // namespace henbtrust
