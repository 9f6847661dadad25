#include "pve/enrollment_token.h"

#include "henbtrust/core/json_fields.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/net/api.h"

namespace henbtrust {

namespace {

Bytes Tag(ByteView key, std::string_view payload) {
  Bytes input = ToBytes("henbtrust enrollment token v1");
  input.push_back(0);
  Append(input, AsBytes(payload));
  return Hmac(HashAlg::kSha256, key, input);
}

Error NotAToken(const std::string& why) {
  return Error(ErrorCode::kPolicyEnrollment, "enrollment_token " + why);
}

}  // namespace

std::string SealEnrollmentToken(const EnrollmentChallengeState& state, ByteView key) {
  const nlohmann::json payload = {{"challenge", Base64Encode(state.challenge)},
                                  {"expires_at", state.expires_at},
                                  {"request", EncodeEnrollmentFields(state.request)}};
  const std::string text = payload.dump();
  return Base64UrlEncode(AsBytes(text)) + "." + Base64UrlEncode(Tag(key, text));
}

Result<EnrollmentChallengeState> OpenEnrollmentToken(std::string_view token, ByteView key) {
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos) return NotAToken("is not a token");
  auto payload = Base64UrlDecode(token.substr(0, dot));
  auto tag = Base64UrlDecode(token.substr(dot + 1));
  if (!payload.ok() || !tag.ok()) return NotAToken("is not base64url");
  const std::string text = ToString(*payload);
  if (!ConstantTimeEqual(*tag, Tag(key, text))) {
    return NotAToken("was not made by this PVE, or was changed");
  }
  // Sealed by us: still read through the bounded codec.
  const nlohmann::json body = api::ParseUntrustedJson(text);
  if (!body.is_object() || !body.contains("request") || !body["request"].is_object() ||
      !body.contains("expires_at") || !body["expires_at"].is_number_integer()) {
    return NotAToken("holds no enrollment");
  }
  EnrollmentChallengeState state;
  HENB_ASSIGN_OR_RETURN(state.challenge, json_fields::Base64(body, "challenge", 64));
  state.expires_at = body["expires_at"].get<int64_t>();
  HENB_ASSIGN_OR_RETURN(state.request, DecodeEnrollmentFields(body["request"]));
  return state;
}

Bytes EnrollmentSecret(ByteView key, std::string_view device_id, ByteView challenge) {
  Bytes input = ToBytes("henbtrust enrollment secret v1");
  input.push_back(0);
  Append(input, AsBytes(device_id));
  input.push_back(0);
  Append(input, challenge);
  return Hmac(HashAlg::kSha256, key, input);
}

}  // namespace henbtrust
