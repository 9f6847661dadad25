#include "henbtrust/store/store.h"

#include "henbtrust/crypto/x509.h"

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

Status CheckRecoveryCertificate(const DeviceRecord& device, ByteView certificate_der) {
  // The states refuse it as they refuse the device's own certificate.
  HENB_TRY(CheckDeviceCertificate(device, device.certificate_serial));
  if (device.recovery_public_key.empty()) {
    return Error(ErrorCode::kNetUnauthenticated,
                 "device " + device.device_id + " enrolled no recovery key");
  }
  auto certificate = Certificate::FromDer(certificate_der);
  if (!certificate.ok()) {
    return Error(ErrorCode::kNetUnauthenticated, "the recovery certificate does not parse");
  }
  auto key = certificate->SubjectKey();
  if (!key.ok() || !Equal(key->ToDer(), device.recovery_public_key)) {
    return Error(
        ErrorCode::kNetUnauthenticated,
        "this certificate does not name the recovery key enrolled for " + device.device_id);
  }
  return OkStatus();
}

}  // namespace henbtrust
