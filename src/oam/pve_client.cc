#include "oam/pve_client.h"

#include "henbtrust/net/enrollment.h"
#include "net/json_fields.h"

namespace henbtrust {

namespace {

namespace jf = json_fields;

// TEMPORARY until net/pve_protocol.h lands: the PVE's answers as the OAM reads them.
struct LatestResultAnswer {
  int64_t appraisal_id = 0;
  std::string status;
  int64_t appraised_at = 0;
};
Result<LatestResultAnswer> DecodeLatestResult(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(jf::Json o, jf::ParseObject(text, "the result", size_t{1} << 20));
  LatestResultAnswer out;
  HENB_ASSIGN_OR_RETURN(out.appraisal_id, jf::Int(o, "appraisal_id", 1, INT64_MAX));
  HENB_ASSIGN_OR_RETURN(out.status, jf::Text(o, "status", 64));
  HENB_ASSIGN_OR_RETURN(out.appraised_at, jf::Int(o, "appraised_at", 0, INT64_MAX));
  return out;
}
struct UpdateAppraisalAnswer {
  std::string status, tim, detail;
};
Result<UpdateAppraisalAnswer> DecodeUpdateAppraisalAnswer(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(jf::Json o, jf::ParseObject(text, "the appraisal", size_t{8} << 20));
  UpdateAppraisalAnswer out;
  HENB_ASSIGN_OR_RETURN(out.status, jf::Text(o, "status", 64));
  HENB_ASSIGN_OR_RETURN(out.tim, jf::Text(o, "tim", 128, false));
  HENB_ASSIGN_OR_RETURN(out.detail, jf::Text(o, "detail", 64 * 1024, false));
  HENB_ASSIGN_OR_RETURN(const jf::Json* error, jf::Object(o, "error", false));
  if (error != nullptr) {
    HENB_ASSIGN_OR_RETURN(std::string message, jf::Text(*error, "message", 64 * 1024, false));
    if (!message.empty()) out.detail = message;
  }
  return out;
}
Result<std::string> EncodeUpdateAppraisalRequest(const std::string& evidence,
                                                 const std::string& release_id,
                                                 const std::string& version, ByteView nonce) {
  HENB_ASSIGN_OR_RETURN(jf::Json body, jf::ParseObject(evidence, "the evidence", size_t{1} << 20));
  body["release_id"] = release_id;
  body["version"] = version;
  body["nonce"] = Base64Encode(nonce);
  return jf::Dump(body);
}
std::string EncodeConfiguration(const std::string& release_id, const std::string& version) {
  return jf::Dump({{"release_id", release_id}, {"version", version}});
}

std::string Excerpt(const HttpResponse& r) { return r.body.substr(0, 200); }

}  // namespace

Result<std::optional<LatestAppraisal>> PveClient::Latest(const std::string& device_id) {
  if (!link_) return Error(ErrorCode::kNet, "no PVE is configured");
  HENB_ASSIGN_OR_RETURN(HttpResponse answer,
                        link_("GET", "/v1/devices/" + device_id + "/attestation-result", ""));
  if (answer.status == 404) return std::optional<LatestAppraisal>();
  if (answer.status != 200) {
    return Error(ErrorCode::kNetStatus, "PVE answered " + std::to_string(answer.status));
  }
  auto decoded = DecodeLatestResult(answer.body);
  if (!decoded.ok()) {
    return Error(ErrorCode::kNetStatus, "PVE's latest result unreadable: " +
                                            decoded.error().message() + ": " + Excerpt(answer));
  }
  return std::optional<LatestAppraisal>(
      LatestAppraisal{decoded->appraisal_id, decoded->status, decoded->appraised_at});
}

Result<UpdateVerdict> PveClient::AppraiseUpdate(const std::string& device_id,
                                                const std::string& evidence,
                                                const std::string& release_id,
                                                const std::string& version, ByteView nonce) {
  if (!link_) return Error(ErrorCode::kNet, "no PVE is configured");
  auto body = EncodeUpdateAppraisalRequest(evidence, release_id, version, nonce);
  if (!body.ok()) {
    // The device's evidence is not an object the PVE could read: as good as
    // evidence that does not verify.
    return UpdateVerdict{"contraindicated", "", "unusable evidence: " + body.error().message()};
  }
  HENB_ASSIGN_OR_RETURN(HttpResponse answer,
                        link_("POST", "/v1/devices/" + device_id + "/update-appraisals", *body));
  if (answer.status == 200 || answer.status == 422) {
    auto verdict = DecodeUpdateAppraisalAnswer(answer.body);
    if (verdict.ok()) return UpdateVerdict{verdict->status, verdict->tim, verdict->detail};
    return Error(ErrorCode::kNetStatus, "PVE's appraisal unreadable: " + verdict.error().message() +
                                            ": " + Excerpt(answer));
  }
  if (answer.status >= 400 && answer.status < 500) {
    // The report's evidence is unusable (malformed, unknown release ...):
    // as good as evidence that does not verify, and asking again will not help.
    return UpdateVerdict{"contraindicated", "",
                         "the PVE refused the reported evidence: HTTP " +
                             std::to_string(answer.status) + " " + Excerpt(answer)};
  }
  return Error(ErrorCode::kNetStatus,
               "PVE answered " + std::to_string(answer.status) + ": " + Excerpt(answer));
}

Status PveClient::SetConfiguration(const std::string& device_id, const std::string& release_id,
                                   const std::string& version, const char* which) {
  if (!link_) return Error(ErrorCode::kNet, "no PVE is configured");
  HENB_ASSIGN_OR_RETURN(HttpResponse set,
                        link_("PUT", "/v1/devices/" + device_id + "/configuration",
                              EncodeConfiguration(release_id, version)));
  if (set.status != 200) {
    return Error(ErrorCode::kNetStatus,
                 std::string("PVE refused the ") + which + " configuration: " + Excerpt(set));
  }
  return OkStatus();
}

}  // namespace henbtrust
