#include "pve/service_impl.h"

#include "henbtrust/tpm/structures.h"

namespace henbtrust {

using namespace api;

Result<HttpResponse> PveService::Impl::LatestResult(const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  HENB_ASSIGN_OR_RETURN(auto latest, store.LatestAppraisal(device.device_id));
  if (!latest) return Error(ErrorCode::kNotFound, "device " + device_id + " was never appraised");
  return HttpResponse{200,
                      "application/json",
                      EncodeLatestResult({device_id, latest->id, latest->status, latest->created_at,
                                          latest->result}),
                      {}};
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
    if (!latest) {
      reason = "never appraised";
    } else {
      out.status = latest->status;
      out.appraised_at = latest->created_at;
      out.appraisal_id = latest->id;
      if (latest->status != "affirming") {
        reason = "latest attestation result is " + latest->status;
      } else if (now - latest->created_at > config.result_max_age) {
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
