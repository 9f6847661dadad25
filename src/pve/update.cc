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
  HENB_ASSIGN_OR_RETURN(UpdateAppraisalRequest request, DecodeUpdateAppraisalRequest(body));
  device.release_id = std::move(request.release_id);
  device.release_version = std::move(request.version);
  const Bytes nonce = request.evidence.nonce;
  return AppraiseAndRecord(device, EvidenceOf(std::move(request.evidence)), nonce, true);
}

// The OAM's commit (step 9): the device's recorded configuration becomes the
// target release, which later appraisals compare against.
Result<HttpResponse> PveService::Impl::SetConfiguration(const HttpRequest& req,
                                                        const std::string& device_id) {
  HENB_ASSIGN_OR_RETURN(Json body, ParseJsonBody(req));
  HENB_ASSIGN_OR_RETURN(DeviceRecord device, LoadDevice(device_id));
  HENB_ASSIGN_OR_RETURN(ConfigurationMessage wanted, DecodeConfiguration(body));
  const std::string& release_id = wanted.release_id;
  const std::string& version = wanted.version;
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
  return api::JsonText(200, EncodeConfiguration({device_id, release_id, version}));
}

}  // namespace henbtrust
