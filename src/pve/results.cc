#include "pve/service_impl.h"

#include "henbtrust/tpm/structures.h"

namespace henbtrust {

using namespace api;

Result<EarClaims> StoredClaims(const AppraisalRecord& record, KnownResults& known) {
  auto claims = known.Claims(record.result);
  if (!claims.ok()) {
    return Error(ErrorCode::kInternal,
                 "stored attestation result " + std::to_string(record.id) +
                     " does not verify under this PVE's key: " + claims.error().message());
  }
  return claims;
}

Result<HttpResponse> PveService::Impl::LatestResult(const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  HENB_ASSIGN_OR_RETURN(auto latest, store.LatestAppraisal(device.device_id));
  if (!latest) return Error(ErrorCode::kNotFound, "device " + device_id + " was never appraised");
  HENB_ASSIGN_OR_RETURN(EarClaims claims, StoredClaims(*latest, known_results));
  if (claims.device_id != device_id) {
    // Signed by this PVE, but for another device: copied in the store.
    return Error(ErrorCode::kInternal, "stored attestation result " + std::to_string(latest->id) +
                                           " is " + claims.device_id + "'s, not " + device_id +
                                           "'s");
  }
  return HttpResponse{
      200,
      "application/json",
      EncodeLatestResult({device_id, latest->id, std::string(ArStatusName(claims.status)),
                          latest->created_at, latest->result, claims.vector, claims.tim_hex,
                          claims.ticket_key_hex}),
      {}};
}

// GET /v1/appraisals: the operator's paged list, of one device or of all.
Result<HttpResponse> PveService::Impl::ListAppraisals(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(PageQuery q, ParsePageQuery(req.target));
  HENB_ASSIGN_OR_RETURN(int64_t after, NumericCursor(q.after, INT64_MAX));
  const std::string device_id = QueryValue(req.target, "device");
  if (!device_id.empty() && !IsValidDeviceId(device_id)) return BadRequest("malformed device id");
  HENB_ASSIGN_OR_RETURN(auto records, store.ListAppraisals(device_id, after, q.limit));
  Page<LatestResultAnswer> page;
  page.items.reserve(records.size());
  for (const auto& r : records) {
    LatestResultAnswer a{r.device_id, r.id, "", r.created_at, r.result, {}};
    // As for the latest result: what the signed EAR says, not the row.
    if (auto claims = StoredClaims(r, known_results); claims.ok()) {
      a.status = std::string(ArStatusName(claims->status));
      a.vector = claims->vector;
      a.tim = claims->tim_hex;
      a.ticket_key = claims->ticket_key_hex;
    } else {
      a.status = "unverifiable";
    }
    page.items.push_back(std::move(a));
  }
  page.next =
      NextCursor(records, q.limit, [](const AppraisalRecord& r) { return std::to_string(r.id); });
  return JsonText(200, EncodeAppraisalList(page));
}

Result<HttpResponse> PveService::Impl::DeviceInfo(const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord d, LoadDevice(device_id));
  auto ak_name = TpmObjectName(d.ak_public);
  return JsonResponse(200, {{"device_id", d.device_id},
                            {"hardware_model", d.hardware_model},
                            {"release_id", d.release_id},
                            {"release_version", d.release_version},
                            {"state", d.state},
                            {"agent_address", d.agent_address},
                            {"reset_count", d.reset_count},
                            {"clock", d.clock},
                            {"ak_name", ak_name.ok() ? HexEncode(*ak_name) : std::string()},
                            {"certificate_serial", d.certificate_serial},
                            {"updated_at", d.updated_at}});
}

}  // namespace henbtrust
