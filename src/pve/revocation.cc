#include "pve/service_impl.h"

namespace henbtrust {

using namespace api;

Result<HttpResponse> PveService::Impl::Revoke(const HttpRequest& req, const std::string& release_id,
                                              const std::string& version) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(RevocationRequest request, DecodeRevocationRequest(body));
  const std::string& reason = request.reason;
  const int64_t now = config.now();
  if (auto st = store.RevokeRelease(release_id, version, reason,
                                    AuditEntry{0,
                                               now,
                                               Actor(req.peer),
                                               "release:" + release_id + "/" + version,
                                               "release revoked",
                                               reason,
                                               {},
                                               {}});
      !st.ok()) {
    if (st.error().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kPolicyUnknownRelease, st.error().message());
    }
    return st.error();
  }
  MutexLock lock(cache_mu);
  references.erase({release_id, version});
  return JsonResponse(200, {{"release_id", release_id}, {"version", version}, {"revoked", reason}});
}

Result<HttpResponse> PveService::Impl::RevokeDevice(const HttpRequest& req,
                                                    const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(RevocationRequest request, DecodeRevocationRequest(body));
  const std::string& reason = request.reason;
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  const int64_t now = config.now();
  const std::string& serial = device.certificate_serial;
  auto revoked =
      store.RevokeDevice(device_id, now,
                         AuditEntry{0,
                                    now,
                                    Actor(req.peer),
                                    "device:" + device_id,
                                    "device revoked",
                                    device_id + ": certificate " + (serial.empty() ? "?" : serial) +
                                        " revoked: " + reason,
                                    {},
                                    {}});
  if (!revoked.ok()) {
    if (revoked.error().code() == ErrorCode::kNotFound) {
      return Error(ErrorCode::kPolicyUnknownDevice, revoked.error().message());
    }
    return revoked.error();
  }
  return JsonResponse(200,
                      {{"device_id", device_id}, {"state", kDeviceRevoked}, {"revoked", reason}});
}

}  // namespace henbtrust
