#include "henbtrust/pve/ear.h"

#include "henbtrust/core/json_fields.h"
#include "henbtrust/core/json_text.h"
#include "henbtrust/crypto/jws.h"

namespace henbtrust {

namespace {

constexpr size_t kMaxClaimText = 1024;
constexpr size_t kMaxEarClaimsBytes = 1 << 20;

Error BadClaims(const std::string& what) {
  return Error(ErrorCode::kMalformed, "attestation result: " + what);
}

template <typename T>
Result<T> AsClaims(Result<T> read) {
  if (read.ok()) return read;
  return BadClaims(read.error().message());
}

Result<ArStatus> StatusMember(const nlohmann::json& object, const char* name) {
  HENB_ASSIGN_OR_RETURN(std::string text, AsClaims(json_fields::Text(object, name, 32)));
  auto status = ParseArStatus(text);
  if (!status) return BadClaims("'" + std::string(name) + "' is no EAR status");
  return *status;
}

TrustTier TierOfStatus(ArStatus status) {
  switch (status) {
    case ArStatus::kAffirming:
      return TrustTier::kAffirming;
    case ArStatus::kWarning:
      return TrustTier::kWarning;
    case ArStatus::kContraindicated:
      return TrustTier::kContraindicated;
  }
  return TrustTier::kContraindicated;
}

}  // namespace

std::optional<ArStatus> ParseArStatus(std::string_view name) {
  for (ArStatus s : {ArStatus::kAffirming, ArStatus::kWarning, ArStatus::kContraindicated}) {
    if (ArStatusName(s) == name) return s;
  }
  return std::nullopt;
}

// The claims are written as text: building them as a JSON document first
// cost more than the rest of an appraisal apart from its two signatures.
Result<std::string> EncodeEar(const AppraisalResult& result, const PrivateKey& signer,
                              const std::string& verifier_id) {
  std::string claims;
  claims.reserve(512 + 96 * result.components.size());
  JsonObjectWriter ear(claims);
  ear.String("eat_profile", "tag:github.com,2023:veraison/ear").Int("iat", result.issued_at);
  {
    ear.Key("ear.verifier-id");
    JsonObjectWriter id(claims);
    id.String("developer", "henbtrust").String("build", verifier_id).Close();
    if (!id.ok()) return Error(ErrorCode::kInvalidArgument, "verifier id is not UTF-8");
  }
  ear.String("ear.status", ArStatusName(result.status));
  ear.Key("ear.trustworthiness-vector");
  AppendTrustVectorJson(result.vector, claims);
  ear.String("eat_nonce", Base64UrlEncode(result.nonce))
      .String("ear.appraisal-policy-id", result.policy_id);
  {
    ear.Key("submods");
    JsonObjectWriter submods(claims);
    for (const auto& [name, status] : result.submodules) {
      submods.Key(name);
      JsonObjectWriter one(claims);
      one.String("ear.status", ArStatusName(status)).Close();
    }
    submods.Close();
    if (!submods.ok()) return Error(ErrorCode::kInvalidArgument, "submodule name is not UTF-8");
  }
  ear.String("henbtrust.device-id", result.device_id)
      .String("henbtrust.release", result.release_version)
      .String("henbtrust.tim", HexEncode(result.tim));
  if (!result.ticket_key.empty()) ear.String("henbtrust.ticket-key", HexEncode(result.ticket_key));
  ear.Key("henbtrust.components");
  claims += '[';
  for (size_t i = 0; i < result.components.size(); ++i) {
    const auto& c = result.components[i];
    if (i > 0) claims += ',';
    JsonObjectWriter v(claims);
    v.String("id", c.id).String("version", c.version).String("ear.status", ArStatusName(c.status));
    if (!c.detail.empty()) v.String("detail", c.detail);
    v.Close();
    if (!v.ok()) return Error(ErrorCode::kInvalidArgument, "component text is not UTF-8");
  }
  claims += ']';
  if (!result.detail.empty()) ear.String("henbtrust.detail", result.detail);
  ear.Close();
  if (!ear.ok()) return Error(ErrorCode::kInvalidArgument, "result text is not UTF-8");
  return SignJwsEs256(claims, signer);
}

Result<EarClaims> VerifyEar(std::string_view token, const PublicKey& verifier_key) {
  HENB_ASSIGN_OR_RETURN(std::string payload, VerifyJwsEs256(token, verifier_key));
  return DecodeEarClaims(payload);
}

Result<EarClaims> DecodeEarClaims(std::string_view claims_json) {
  HENB_ASSIGN_OR_RETURN(nlohmann::json body, AsClaims(json_fields::ParseObject(
                                                 claims_json, "the claims", kMaxEarClaimsBytes)));
  EarClaims c;
  HENB_ASSIGN_OR_RETURN(c.issued_at, AsClaims(json_fields::Int(body, "iat", 0, INT64_MAX)));
  HENB_ASSIGN_OR_RETURN(const nlohmann::json* verifier,
                        AsClaims(json_fields::Object(body, "ear.verifier-id")));
  HENB_ASSIGN_OR_RETURN(c.verifier_build,
                        AsClaims(json_fields::Text(*verifier, "build", kMaxClaimText)));
  HENB_ASSIGN_OR_RETURN(c.status, StatusMember(body, "ear.status"));
  HENB_ASSIGN_OR_RETURN(const nlohmann::json* vector,
                        AsClaims(json_fields::Object(body, "ear.trustworthiness-vector")));
  auto read_vector = TrustVectorFromJson(*vector);
  if (!read_vector.ok()) {
    return BadClaims("'ear.trustworthiness-vector': " + read_vector.error().message());
  }
  c.vector = *read_vector;
  if (TierOfStatus(c.status) < c.vector.WorstTier()) {
    return BadClaims("'ear.status' " + std::string(ArStatusName(c.status)) +
                     " is more trusting than its vector: " + DescribeTrustVector(c.vector));
  }
  HENB_ASSIGN_OR_RETURN(std::string nonce,
                        AsClaims(json_fields::Text(body, "eat_nonce", kMaxClaimText)));
  auto nonce_bytes = Base64UrlDecode(nonce);
  if (!nonce_bytes.ok()) return BadClaims("'eat_nonce' is not base64url");
  c.nonce = std::move(nonce_bytes).value();
  HENB_ASSIGN_OR_RETURN(
      c.policy_id, AsClaims(json_fields::Text(body, "ear.appraisal-policy-id", kMaxClaimText)));
  HENB_ASSIGN_OR_RETURN(const nlohmann::json* submods,
                        AsClaims(json_fields::Object(body, "submods")));
  for (const auto& [name, submod] : submods->items()) {
    if (!submod.is_object())
      return BadClaims("'submods': '" + name.substr(0, 32) + "' is not an object");
    HENB_ASSIGN_OR_RETURN(c.submods[name], StatusMember(submod, "ear.status"));
  }
  HENB_ASSIGN_OR_RETURN(c.device_id,
                        AsClaims(json_fields::Text(body, "henbtrust.device-id", kMaxClaimText)));
  HENB_ASSIGN_OR_RETURN(c.release_version, AsClaims(json_fields::Text(body, "henbtrust.release",
                                                                      kMaxClaimText, false)));
  HENB_ASSIGN_OR_RETURN(c.tim_hex,
                        AsClaims(json_fields::Text(body, "henbtrust.tim", kMaxClaimText, false)));
  HENB_ASSIGN_OR_RETURN(c.ticket_key_hex, AsClaims(json_fields::Text(body, "henbtrust.ticket-key",
                                                                     kMaxClaimText, false)));
  HENB_ASSIGN_OR_RETURN(
      c.detail, AsClaims(json_fields::Text(body, "henbtrust.detail", kMaxClaimText * 8, false)));
  return c;
}

}  // namespace henbtrust
