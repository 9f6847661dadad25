#include "pve/service_impl.h"

#include "henbtrust/tpm/structures.h"

namespace henbtrust {

using namespace api;

namespace {

// What a stored result says, read back from its signed EAR rather than from
// the row beside it: a store changed behind the PVE's back cannot make a
// device look better than this PVE found it.
Result<EarClaims> StoredClaims(const AppraisalRecord& record, const PrivateKey& ear_key) {
  auto claims = VerifyEar(record.result, ear_key.Public());
  if (!claims.ok()) {
    return Error(ErrorCode::kInternal,
                 "stored attestation result " + std::to_string(record.id) +
                     " does not verify under this PVE's key: " + claims.error().message());
  }
  return claims;
}

}  // namespace

Result<HttpResponse> PveService::Impl::LatestResult(const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  HENB_ASSIGN_OR_RETURN(auto latest, store.LatestAppraisal(device.device_id));
  if (!latest) return Error(ErrorCode::kNotFound, "device " + device_id + " was never appraised");
  HENB_ASSIGN_OR_RETURN(EarClaims claims, StoredClaims(*latest, config.ear_key));
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
    if (auto claims = StoredClaims(r, config.ear_key); claims.ok()) {
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

Result<HttpResponse> PveService::Impl::AccessDecision(const std::string& device_id,
                                                      const std::string& presented_serial) {
  if (!IsValidDeviceId(device_id)) return BadRequest("malformed device id");
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(device_id));
  const int64_t now = config.now();
  std::string reason;
  AccessDecisionAnswer out;
  out.device_id = device_id;
  if (device) out.certificate_serial = device->certificate_serial;
  if (!device) {
    reason = "not enrolled";
  } else if (device->state != "enrolled") {
    reason = "device state is " + device->state;
  } else if (!presented_serial.empty() && !CheckDeviceCertificate(*device, presented_serial).ok()) {
    reason = "certificate " + presented_serial + " no longer speaks for the device";
  } else {
    HENB_ASSIGN_OR_RETURN(auto latest, store.LatestAppraisal(device_id));
    // Read now, not from the appraiser's cache: a revocation quarantines at once.
    HENB_ASSIGN_OR_RETURN(auto manifest,
                          store.GetManifest(device->release_id, device->release_version));
    if (!latest) {
      reason = "never appraised";
    } else if (auto claims = StoredClaims(*latest, config.ear_key); !claims.ok()) {
      reason = claims.error().message();
    } else if (claims->device_id != device_id) {
      // Signed by this PVE, but for another device: copied in the store.
      reason = "the latest attestation result is " + claims->device_id + "'s, not this device's";
    } else {
      out.status = std::string(ArStatusName(claims->status));
      out.appraised_at = claims->issued_at;  // signed, unlike the row's time
      out.appraisal_id = latest->id;
      out.vector = claims->vector;
      if (manifest && !manifest->revoked_reason.empty()) {
        reason =
            "release " + device->release_version + " is revoked (" + manifest->revoked_reason + ")";
      } else if (claims->status != ArStatus::kAffirming) {
        reason = "latest attestation result is " + *out.status + ": " +
                 DescribeTrustVector(claims->vector);
      } else if (claims->release_version != device->release_version) {
        reason = "the latest attestation result is of release " + claims->release_version +
                 ", the device is recorded on " + device->release_version;
      } else if (now - claims->issued_at > config.result_max_age) {
        reason = "latest attestation result is older than " +
                 std::to_string(config.result_max_age) + " s";
      }
    }
  }
  out.decision = reason.empty() ? "admit" : "quarantine";
  out.reason = reason.empty() ? "affirming attestation result" : reason;
  return api::JsonText(200, EncodeAccessDecision(out));
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
