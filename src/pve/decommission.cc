#include "henbtrust/pve/decommission.h"

#include "henbtrust/net/identity_protocol.h"
#include "pve/service_impl.h"

namespace henbtrust {

using namespace api;

Result<std::string> DecommissionDevice(Store& store, const Decommissioning& what) {
  HENB_ASSIGN_OR_RETURN(auto device, store.GetDevice(what.device_id));
  if (!device) {
    return Error(ErrorCode::kPolicyUnknownDevice, "no enrolled device " + what.device_id);
  }
  const std::string serial = device->certificate_serial;
  const std::string why = what.reason.empty() ? "" : ": " + what.reason;
  auto done = store.DecommissionDevice(
      what.device_id, what.now,
      AuditEntry{0,
                 what.now,
                 what.actor,
                 "device:" + what.device_id,
                 "device decommissioned",
                 what.device_id + ": certificate " + (serial.empty() ? "?" : serial) +
                     " refused from now on" + why,
                 {},
                 {}});
  if (!done.ok()) {
    if (done.error().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kPolicyUnknownDevice, done.error().message());
    }
    return done.error();
  }
  return serial;
}

Result<HttpResponse> PveService::Impl::Decommission(const HttpRequest& req,
                                                    const std::string& device_id) {
  if (!IsValidDeviceId(device_id)) return BadRequest("malformed device id");
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(DecommissionRequest request, DecodeDecommissionRequest(body));
  HENB_ASSIGN_OR_RETURN(
      std::string serial,
      DecommissionDevice(store, {device_id, request.reason, Actor(req.peer), config.now()}));
  if (config.refused_certificates && !serial.empty()) config.refused_certificates->Add(serial);
  return JsonText(
      200, EncodeDecommissionAnswer({device_id, kDeviceDecommissioned, serial, request.reason}));
}

}  // namespace henbtrust
