#include "oam/pve_client.h"

#include "henbtrust/net/api.h"
#include "henbtrust/net/pve_protocol.h"

namespace henbtrust {

namespace {

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
  Bytes tim;
  if (!decoded->tim.empty()) {
    auto hex = HexDecode(decoded->tim);
    if (!hex.ok() || hex->size() != 32) {
      return Error(ErrorCode::kNetStatus, "PVE's latest result names a TIM that is not a digest");
    }
    tim = std::move(hex).value();
  }
  return std::optional<LatestAppraisal>(LatestAppraisal{decoded->appraisal_id, decoded->status,
                                                        decoded->appraised_at, decoded->vector,
                                                        std::move(tim), decoded->ticket_key});
}

Result<UpdateVerdict> PveClient::AppraiseUpdate(const std::string& device_id,
                                                const std::string& evidence,
                                                const std::string& release_id,
                                                const std::string& version, ByteView nonce) {
  if (!link_) return Error(ErrorCode::kNet, "no PVE is configured");
  // The quote must carry the order's nonce: the request names it, whatever
  // the device's evidence says.
  const auto object = api::ParseUntrustedJson(evidence);
  auto decoded =
      object.is_object()
          ? DecodeEvidence(object)
          : Result<EvidenceMessage>(api::BadRequest("the reported evidence is not a JSON object"));
  if (!decoded.ok()) {
    // Evidence the PVE could not read: as good as evidence that does not verify.
    return UpdateVerdict{"contraindicated", "", "unusable evidence: " + decoded.error().message()};
  }
  UpdateAppraisalRequest request{release_id, version, std::move(decoded).value()};
  request.evidence.nonce.assign(nonce.begin(), nonce.end());
  HENB_ASSIGN_OR_RETURN(HttpResponse answer,
                        link_("POST", "/v1/devices/" + device_id + "/update-appraisals",
                              EncodeUpdateAppraisalRequest(request)));
  if (answer.status == 200 || answer.status == 422) {
    auto verdict = DecodeAttestationResult(answer.body);
    if (verdict.ok()) {
      return UpdateVerdict{
          verdict->status, verdict->tim,
          verdict->error_message.empty() ? verdict->detail : verdict->error_message,
          verdict->appraisal_id};
    }
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
                              EncodeConfiguration(ConfigurationMessage{{}, release_id, version})));
  if (set.status != 200) {
    return Error(ErrorCode::kNetStatus,
                 std::string("PVE refused the ") + which + " configuration: " + Excerpt(set));
  }
  return OkStatus();
}

}  // namespace henbtrust
