// Taking a device out of service for good (docs/pve.md, "Certificate
// renewal and decommissioning"): the PVE's endpoint and the operator's
// command (`henbtrust server decommission`) do it alike.
#pragma once

#include <cstdint>
#include <string>

#include "henbtrust/store/store.h"

namespace henbtrust {

struct Decommissioning {
  std::string device_id;
  std::string reason = {};  // for the audit log; may be empty
  std::string actor;        // who asks, for the audit log: "operator:<name>"
  int64_t now = 0;          // Unix seconds
};

// The device becomes kDeviceDecommissioned, with the audit entry "device
// decommissioned" naming its certificate, in one transaction. Returns the
// serial of the certificate that servers are to refuse (empty when none was
// recorded). kPolicyUnknownDevice if no such device, kPolicyState if it is
// decommissioned already; store errors as they come.
Result<std::string> DecommissionDevice(Store& store, const Decommissioning& what);

}  // namespace henbtrust
