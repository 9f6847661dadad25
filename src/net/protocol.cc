#include "henbtrust/net/protocol.h"

#include <nlohmann/json.hpp>

#include "henbtrust/core/json_fields.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/jws.h"

namespace henbtrust {

namespace {

namespace jf = json_fields;

constexpr std::string_view kOrderType = "henbtrust-deployment-order";

// The claims of a verified order's payload; kPolicyOrder for an action an
// order cannot carry, kNetBadRequest for anything else amiss.
Result<DeploymentOrder> DecodeOrderClaims(std::string_view payload) {
  HENB_ASSIGN_OR_RETURN(jf::Json c, jf::ParseObject(payload, "the claims", kMaxOrderBytes));
  HENB_ASSIGN_OR_RETURN(std::string type, jf::Text(c, "typ", 64, false));
  if (type != kOrderType) return Error(ErrorCode::kNetBadRequest, "not a deployment order");
  DeploymentOrder o;
  HENB_ASSIGN_OR_RETURN(o.job, jf::Int(c, "job", 1, kMaxJobId));
  HENB_ASSIGN_OR_RETURN(std::string action, jf::Text(c, "action", 64));
  const auto parsed = ParseAgentAction(action);
  if (!parsed || !ActionCarriesOrder(*parsed)) {
    return Error(ErrorCode::kPolicyOrder, "unknown action " + action);
  }
  o.action = *parsed;
  HENB_ASSIGN_OR_RETURN(o.device_id, jf::Text(c, "device_id", kMaxDeviceIdBytes));
  HENB_ASSIGN_OR_RETURN(o.release_id, jf::Text(c, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(o.version, jf::Text(c, "version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(o.expected_tim, jf::Hex(c, "expected_tim", 64));
  HENB_ASSIGN_OR_RETURN(std::string nonce, jf::Text(c, "nonce", 128));
  auto nonce_bytes = Base64UrlDecode(nonce);
  if (!nonce_bytes.ok()) return Error(ErrorCode::kNetBadRequest, "field 'nonce' is not base64url");
  o.nonce = std::move(nonce_bytes).value();
  HENB_ASSIGN_OR_RETURN(o.issued_at, jf::Int(c, "iat", 0, INT64_MAX));
  HENB_ASSIGN_OR_RETURN(o.expires_at, jf::Int(c, "exp", 0, INT64_MAX));
  return o;
}

}  // namespace

std::string DeviceUri(std::string_view device_id) {
  return "urn:henbtrust:device:" + std::string(device_id);
}

Result<std::string> SignDeploymentOrder(const DeploymentOrder& o, const PrivateKey& oam_key) {
  const nlohmann::ordered_json claims = {
      {"typ", kOrderType},
      {"job", o.job},
      {"action", AgentActionName(o.action)},
      {"device_id", o.device_id},
      {"release_id", o.release_id},
      {"version", o.version},
      {"expected_tim", HexEncode(o.expected_tim)},
      {"nonce", Base64UrlEncode(o.nonce)},
      {"iat", o.issued_at},
      {"exp", o.expires_at},
  };
  return SignJwsEs256(claims.dump(), oam_key);
}

Result<DeploymentOrder> VerifyDeploymentOrder(std::string_view token, const PublicKey& oam_key,
                                              const std::string& device_id, int64_t now) {
  auto payload = VerifyJwsEs256(token, oam_key);
  if (!payload.ok()) {
    if (payload.error().code() == ErrorCode::kMalformed) return payload.error();
    return Error(ErrorCode::kPolicyOrder,
                 "the order is not signed by the OAM key: " + payload.error().message());
  }
  auto decoded = DecodeOrderClaims(*payload);
  if (!decoded.ok()) {
    if (decoded.error().code() == ErrorCode::kPolicyOrder) return decoded.error();
    return Error(ErrorCode::kMalformed, "deployment order: " + decoded.error().message());
  }
  const DeploymentOrder& o = *decoded;
  if (o.device_id != device_id) {
    return Error(ErrorCode::kPolicyOrder,
                 "the order is for device " + o.device_id + ", not " + device_id);
  }
  if (now >= o.expires_at) {
    return Error(ErrorCode::kPolicyOrder, "the order expired at " + std::to_string(o.expires_at));
  }
  return o;
}

}  // namespace henbtrust
