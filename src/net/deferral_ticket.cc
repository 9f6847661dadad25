#include "henbtrust/net/deferral_ticket.h"

#include <nlohmann/json.hpp>

#include "henbtrust/core/json_fields.h"
#include "henbtrust/crypto/jws.h"
#include "henbtrust/net/pve_protocol.h"

namespace henbtrust {

namespace {

namespace jf = json_fields;

constexpr std::string_view kTicketType = "henbtrust-deferral-ticket";
constexpr size_t kTimBytes = 32;

Error Refused(const std::string& why) { return Error(ErrorCode::kPolicyTicket, why); }

Result<DeferralTicket> DecodeClaims(std::string_view payload) {
  HENB_ASSIGN_OR_RETURN(jf::Json c, jf::ParseObject(payload, "the claims", kMaxTicketBytes));
  HENB_ASSIGN_OR_RETURN(std::string type, jf::Text(c, "typ", 64, false));
  if (type != kTicketType) return Refused("not a deferral ticket");
  DeferralTicket t;
  HENB_ASSIGN_OR_RETURN(t.device_id, jf::Text(c, "device_id", kMaxDeviceIdBytes));
  HENB_ASSIGN_OR_RETURN(std::string nonce, jf::Text(c, "nonce", 64));
  auto nonce_bytes = Base64UrlDecode(nonce);
  if (!nonce_bytes.ok() || nonce_bytes->size() != kTicketNonceBytes) {
    return Refused("field 'nonce' is not " + std::to_string(kTicketNonceBytes) +
                   " bytes of base64url");
  }
  t.nonce = std::move(nonce_bytes).value();
  HENB_ASSIGN_OR_RETURN(std::string verdict, jf::Text(c, "verdict", 32));
  const auto parsed = ParseTicketVerdict(verdict);
  if (!parsed) return Refused("unknown verdict '" + verdict + "'");
  t.verdict = *parsed;
  HENB_ASSIGN_OR_RETURN(t.issued_at, jf::Int(c, "iat", 0, INT64_MAX));
  if (t.verdict == TicketVerdict::kDefer) {
    HENB_ASSIGN_OR_RETURN(t.appraisal, jf::Int(c, "appraisal", 1, INT64_MAX));
    HENB_ASSIGN_OR_RETURN(t.tim, jf::Hex(c, "tim", kTimBytes));
    if (t.tim.size() != kTimBytes) return Refused("field 'tim' is not a SHA-256 digest");
    HENB_ASSIGN_OR_RETURN(t.period, jf::Int(c, "period", 1, kMaxTicketPeriodSeconds));
  } else {
    HENB_ASSIGN_OR_RETURN(t.reason, jf::Text(c, "reason", kMaxTicketReasonBytes, false));
  }
  return t;
}

}  // namespace

std::string_view TicketVerdictName(TicketVerdict verdict) {
  return verdict == TicketVerdict::kDefer ? "defer" : "recover";
}

std::optional<TicketVerdict> ParseTicketVerdict(std::string_view name) {
  if (name == "defer") return TicketVerdict::kDefer;
  if (name == "recover") return TicketVerdict::kRecover;
  return std::nullopt;
}

Result<std::string> SignDeferralTicket(const DeferralTicket& t, const PrivateKey& oam_key) {
  if (t.nonce.size() != kTicketNonceBytes) {
    return Error(ErrorCode::kInvalidArgument,
                 "a ticket's nonce is " + std::to_string(kTicketNonceBytes) + " bytes");
  }
  nlohmann::ordered_json claims = {
      {"typ", kTicketType},
      {"device_id", t.device_id},
      {"nonce", Base64UrlEncode(t.nonce)},
      {"verdict", TicketVerdictName(t.verdict)},
      {"iat", t.issued_at},
  };
  if (t.verdict == TicketVerdict::kDefer) {
    if (t.tim.size() != kTimBytes || t.period < 1 || t.period > kMaxTicketPeriodSeconds ||
        t.appraisal < 1) {
      return Error(ErrorCode::kInvalidArgument,
                   "a deferral names an appraisal, its TIM and a period of 1 s to 30 days");
    }
    claims["appraisal"] = t.appraisal;
    claims["tim"] = HexEncode(t.tim);
    claims["period"] = t.period;
  } else {
    claims["reason"] = t.reason.substr(0, kMaxTicketReasonBytes);
  }
  return SignJwsEs256(claims.dump(), oam_key);
}

Result<DeferralTicket> VerifyDeferralTicket(std::string_view token, const PublicKey& oam_key,
                                            const std::string& device_id) {
  if (token.size() > kMaxTicketBytes) return Refused("the ticket is too long");
  auto payload = VerifyJwsEs256(token, oam_key);
  if (!payload.ok()) {
    if (payload.error().code() == ErrorCode::kMalformed) return payload.error();
    return Refused("the ticket is not signed by the OAM's ticket key: " +
                   payload.error().message());
  }
  auto decoded = DecodeClaims(*payload);
  if (!decoded.ok()) {
    if (decoded.error().code() == ErrorCode::kPolicyTicket) return decoded.error();
    return Refused("deferral ticket: " + decoded.error().message());
  }
  if (decoded->device_id != device_id) {
    return Refused("the ticket is for device " + decoded->device_id + ", not " + device_id);
  }
  return decoded;
}

}  // namespace henbtrust
