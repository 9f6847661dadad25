#include "henbtrust/store/store.h"

namespace henbtrust {

Status CheckDeviceCertificate(const DeviceRecord& device, std::string_view presented_serial) {
  if (device.state == kDeviceRevoked) {
    return Error(ErrorCode::kNetUnauthenticated,
                 "device " + device.device_id + " was revoked by an operator");
  }
  if (device.state == kDeviceDecommissioned) {
    return Error(ErrorCode::kNetUnauthenticated,
                 "device " + device.device_id + " was decommissioned by an operator");
  }
  if (!device.certificate_serial.empty() && presented_serial != device.certificate_serial) {
    return Error(ErrorCode::kNetUnauthenticated,
                 "this certificate of " + device.device_id +
                     " is no longer valid: a later enrollment or renewal replaced it");
  }
  return OkStatus();
}

}  // namespace henbtrust
