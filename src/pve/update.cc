#include "pve/service_impl.h"

namespace henbtrust {

using namespace api;

// Step 9: the OAM has the PVE verify a device's completion quote, made with
// the nonce of the OAM's order, against the target release. The OAM keeps
// the order nonce single use (one completion report per order), so the PVE
// does not spend it: asking twice (after an OAM restart) gives the same answer.
Result<HttpResponse> PveService::Impl::UpdateAppraisal(const HttpRequest& req,
                                                       const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  HENB_ASSIGN_OR_RETURN(device.release_id, TextField(body, "release_id", 128));
  HENB_ASSIGN_OR_RETURN(device.release_version, TextField(body, "version", 64));
  Bytes nonce;
  HENB_ASSIGN_OR_RETURN(Evidence evidence, EvidenceFrom(body, &nonce));
  if (nonce.size() < 16) return BadRequest("an order nonce has at least 16 bytes");
  return AppraiseAndRecord(device, evidence, nonce, true);
}

// The OAM's commit (step 9): the device's recorded configuration becomes the
// target release, which later appraisals compare against.
Result<HttpResponse> PveService::Impl::SetConfiguration(const HttpRequest& req,
                                                        const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  HENB_ASSIGN_OR_RETURN(std::string release_id, TextField(body, "release_id", 128));
  HENB_ASSIGN_OR_RETURN(std::string version, TextField(body, "version", 64));
  HENB_ASSIGN_OR_RETURN(auto manifest, store.GetManifest(release_id, version));
  if (!manifest) {
    return Error(ErrorCode::kPolicyUnknownRelease, "no release " + release_id + " " + version);
  }
  const int64_t now = config.now();
  HENB_TRY(store.SetDeviceRelease(
      device.device_id, release_id, version, now,
      AuditEntry{0,
                 now,
                 Actor(req.peer),
                 "device:" + device_id,
                 "reference configuration set",
                 device_id + ": " + device.release_id + " " + device.release_version + " -> " +
                     release_id + " " + version,
                 {},
                 {}}));
  return JsonResponse(200,
                      {{"device_id", device_id}, {"release_id", release_id}, {"version", version}});
}

}  // namespace henbtrust
