// TpmTre: the TrE on a real TPM 2.0 through tss2-esys, or on swtpm.
#pragma once

#include <memory>
#include <string>

#include "henbtrust/tpm/tre.h"

namespace henbtrust {

enum class EkType : uint8_t { kRsa2048, kEccP256 };

struct TpmTreOptions {
  // TCTI configuration, e.g. "swtpm:host=127.0.0.1,port=2321" or
  // "device:/dev/tpmrm0".
  std::string tcti = "device:/dev/tpmrm0";
  // For swtpm: the control channel used to power-cycle on Reboot(), e.g.
  // "127.0.0.1:2322". Empty: Reboot() is unsupported (a real device reboots
  // itself).
  std::string swtpm_control;
  // Endorsement key from the TCG EK Credential Profile low-range template
  // (RSA 2048 is the one swtpm_setup certifies).
  EkType ek_type = EkType::kRsa2048;
  // Persistent handles where the EK and the AK are kept across runs.
  uint32_t ek_handle = 0x81010001;
  uint32_t ak_handle = 0x81010002;
  // NV index of the monotonic counter.
  uint32_t counter_nv_index = 0x01500020;
};

// Opens the TPM, creating the EK and the AK (under the EK, ECDSA P-256,
// restricted signing) at their persistent handles if absent. Transient
// objects and sessions are flushed after each operation.
Result<std::unique_ptr<Tre>> OpenTpmTre(const TpmTreOptions& options);

// TPM2_ClockSet with the owner hierarchy (empty authorization, as on
// swtpm): moves the TPM's clock forward to `clock_ms`; a TPM refuses to
// set it back. For tests and demonstrations that run days of watchdog time
// in seconds. kTpmUnsupported when `tre` is not a TpmTre.
Status TpmClockSet(Tre& tre, uint64_t clock_ms);

// Sends a power cycle (CMD_INIT) to swtpm's control channel at "host:port".
Status SwtpmPowerCycle(const std::string& control);

}  // namespace henbtrust
