#include "henbtrust/net/ticket_protocol.h"

#include <nlohmann/json.hpp>

#include "henbtrust/core/json_fields.h"
#include "henbtrust/net/oam_protocol.h"
#include "henbtrust/net/pve_protocol.h"

namespace henbtrust {

namespace {

namespace jf = json_fields;
using Json = nlohmann::json;

constexpr size_t kTimBytes = 32;
constexpr size_t kMaxModeBytes = 16;
constexpr size_t kMaxTicketDetailBytes = 1024;

Error Bad(const std::string& what) { return Error(ErrorCode::kNetBadRequest, what); }

}  // namespace

std::string EncodeTicketRequest(const TicketRequest& r) {
  Json j = {{"nonce", Base64UrlEncode(r.nonce)}, {"mode", r.mode}, {"reason", r.reason}};
  if (!r.local_tim.empty()) j["local_tim"] = HexEncode(r.local_tim);
  if (!r.evidence.empty()) {
    j["recovery_release"] = {{"release_id", r.recovery_release_id},
                             {"version", r.recovery_version}};
    j["evidence"] = Json::parse(r.evidence, nullptr, false);
  }
  return j.dump();
}

Result<TicketRequest> DecodeTicketRequest(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json j, jf::ParseObject(text, "the ticket request", kMaxContactBytes));
  TicketRequest r;
  HENB_ASSIGN_OR_RETURN(std::string nonce, jf::Text(j, "nonce", 64));
  auto bytes = Base64UrlDecode(nonce);
  if (!bytes.ok() || bytes->size() != kTicketNonceBytes) {
    return Bad("field 'nonce' is not " + std::to_string(kTicketNonceBytes) + " bytes of base64url");
  }
  r.nonce = std::move(bytes).value();
  HENB_ASSIGN_OR_RETURN(r.mode, jf::Text(j, "mode", kMaxModeBytes));
  if (r.mode != "normal" && r.mode != "minimal" && r.mode != "recovery") {
    return Bad("field 'mode' is not normal, minimal or recovery");
  }
  HENB_ASSIGN_OR_RETURN(r.reason, jf::Text(j, "reason", kMaxTicketDetailBytes, false));
  HENB_ASSIGN_OR_RETURN(r.local_tim, jf::Hex(j, "local_tim", kTimBytes, false));
  if (!r.local_tim.empty() && r.local_tim.size() != kTimBytes) {
    return Bad("field 'local_tim' is not a SHA-256 digest");
  }
  HENB_ASSIGN_OR_RETURN(const Json* release, jf::Object(j, "recovery_release", false));
  HENB_ASSIGN_OR_RETURN(const Json* evidence, jf::Object(j, "evidence", false));
  if ((release == nullptr) != (evidence == nullptr)) {
    return Bad("'evidence' and 'recovery_release' come together");
  }
  if (release != nullptr) {
    HENB_ASSIGN_OR_RETURN(r.recovery_release_id,
                          jf::Text(*release, "release_id", kMaxReleaseIdBytes));
    HENB_ASSIGN_OR_RETURN(r.recovery_version,
                          jf::Text(*release, "version", kMaxReleaseVersionBytes));
    r.evidence = evidence->dump();
  }
  return r;
}

std::string EncodeTicketAnswer(const TicketAnswer& a) {
  Json j = {{"verdict", TicketVerdictName(a.verdict)}, {"ticket", a.ticket}, {"detail", a.detail}};
  if (a.verdict == TicketVerdict::kDefer) {
    j["period"] = a.period;
    j["deadline"] = a.deadline;
  } else if (a.job != 0) {
    j["job"] = a.job;
  }
  if (!a.recovery_image_release_id.empty()) {
    j["recovery_image"] = {{"release_id", a.recovery_image_release_id},
                           {"version", a.recovery_image_version}};
  }
  return j.dump();
}

Result<TicketAnswer> DecodeTicketAnswer(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json j, jf::ParseObject(text, "the ticket answer", kMaxTicketAnswerBytes));
  TicketAnswer a;
  HENB_ASSIGN_OR_RETURN(std::string verdict, jf::Text(j, "verdict", 16));
  const auto parsed = ParseTicketVerdict(verdict);
  if (!parsed) return Bad("field 'verdict' is not defer or recover");
  a.verdict = *parsed;
  HENB_ASSIGN_OR_RETURN(a.ticket, jf::Text(j, "ticket", kMaxTicketBytes));
  HENB_ASSIGN_OR_RETURN(a.detail, jf::Text(j, "detail", kMaxTicketDetailBytes, false));
  if (a.verdict == TicketVerdict::kDefer) {
    HENB_ASSIGN_OR_RETURN(a.period, jf::Int(j, "period", 1, kMaxTicketPeriodSeconds));
    HENB_ASSIGN_OR_RETURN(a.deadline, jf::Int(j, "deadline", 0, INT64_MAX));
  } else {
    HENB_ASSIGN_OR_RETURN(a.job, jf::Int(j, "job", 0, kMaxJobId, false));
  }
  HENB_ASSIGN_OR_RETURN(const Json* image, jf::Object(j, "recovery_image", false));
  if (image != nullptr) {
    HENB_ASSIGN_OR_RETURN(a.recovery_image_release_id,
                          jf::Text(*image, "release_id", kMaxReleaseIdBytes));
    HENB_ASSIGN_OR_RETURN(a.recovery_image_version,
                          jf::Text(*image, "version", kMaxReleaseVersionBytes));
  }
  return a;
}

}  // namespace henbtrust
