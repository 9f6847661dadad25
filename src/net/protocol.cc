#include "henbtrust/net/protocol.h"

#include <nlohmann/json.hpp>

#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/jws.h"
#include "henbtrust/net/api.h"

namespace henbtrust {

std::string DeviceUri(std::string_view device_id) {
  return "urn:henbtrust:device:" + std::string(device_id);
}

Result<std::string> SignDeploymentOrder(const DeploymentOrder& o, const PrivateKey& oam_key) {
  const nlohmann::ordered_json claims = {
      {"typ", "henbtrust-deployment-order"},
      {"job", o.job},
      {"action", o.action},
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
  const auto claims = api::ParseUntrustedJson(*payload);
  DeploymentOrder o;
  try {
    if (!claims.is_object() || claims.value("typ", "") != "henbtrust-deployment-order") {
      return Error(ErrorCode::kMalformed, "not a deployment order");
    }
    o.job = claims.at("job").get<int64_t>();
    o.action = claims.at("action").get<std::string>();
    o.device_id = claims.at("device_id").get<std::string>();
    o.release_id = claims.at("release_id").get<std::string>();
    o.version = claims.at("version").get<std::string>();
    HENB_ASSIGN_OR_RETURN(o.expected_tim, HexDecode(claims.at("expected_tim").get<std::string>()));
    HENB_ASSIGN_OR_RETURN(o.nonce, Base64UrlDecode(claims.at("nonce").get<std::string>()));
    o.issued_at = claims.at("iat").get<int64_t>();
    o.expires_at = claims.at("exp").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    return Error(ErrorCode::kMalformed, std::string("deployment order: ") + e.what());
  }
  if (o.action != "install" && o.action != "commit" && o.action != "rollback") {
    return Error(ErrorCode::kPolicyOrder, "unknown action " + o.action);
  }
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
