// The device's side of certificate renewal (docs/pve.md, "Certificate
// renewal and decommissioning"): before its certificate expires, the device
// renews it over its current identity, with a quote that binds the new TLS
// key to its TPM and the PVE's nonce.
#pragma once

#include <string>

#include "henbtrust/agent/agent.h"
#include "henbtrust/net/http.h"
#include "henbtrust/tpm/tre.h"

namespace henbtrust {

// Renews the certificate of `current` over `pve`, a client that holds that
// identity: a fresh TLS key, a nonce (POST /v1/nonces), a quote over
// RenewalQualifyingData(device_id, nonce, new key) with the event log when
// `with_log`, and POST /v1/devices/{device_id}/certificate-renewal. Returns
// the new credentials: the new certificate and key, the CAs of `current`.
// Errors: the PVE's refusal as kNetStatus with its code and message
// (policy.renewal when the appraisal made for the renewal was not
// affirming), or the transport's. Whatever the error, `current` stays the
// device's valid identity.
Result<DeviceCredentials> RenewCertificate(HttpClient& pve, Tre& tre, const std::string& device_id,
                                           const DeviceCredentials& current, bool with_log = true);

}  // namespace henbtrust
