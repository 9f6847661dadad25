// The device's side of certificate renewal (docs/pve.md, "Certificate
// renewal and decommissioning"): before its certificate expires, the device
// renews it over its current identity, with a quote that binds the new TLS
// key to its TPM and the PVE's nonce.
#pragma once

#include <cstdint>
#include <string>

#include "henbtrust/agent/agent.h"
#include "henbtrust/core/env.h"
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
Result<DeviceCredentials> RenewCertificate(HttpChannel& pve, Tre& tre, const std::string& device_id,
                                           const DeviceCredentials& current, bool with_log = true);

// An agent renews once its certificate expires within this long: 30 days,
// a twelfth of the default validity, which leaves a month of daily retries
// for a device that cannot renew (unreachable PVE, failing appraisal).
inline constexpr int64_t kDefaultRenewalWindowSeconds = int64_t{30} * 86'400;

// Whether the certificate `certificate_pem` expires within
// `window_seconds` of `now` (Unix seconds), or has expired. kMalformed if it
// is no certificate.
Result<bool> RenewalDue(const std::string& certificate_pem, int64_t now, int64_t window_seconds);

// One renewal round of an agent, before its poll.
struct RenewalRound {
  std::string device_id;
  std::string dir;            // where its credentials are kept (agent/credential_store.h)
  Env* env = Env::Default();  // for them; not owned
  int64_t now = 0;            // Unix seconds, the agent's clock
  int64_t window_seconds = kDefaultRenewalWindowSeconds;
  bool with_log = true;  // the renewal's evidence carries the event log
};
// When the certificate of `*credentials` is due (RenewalDue), renews it
// over `pve` (which holds that identity), keeps the new credentials in
// round.dir (StoreCredentials), and puts them in `*credentials`. Returns
// whether it renewed. A failed renewal changes nothing: the caller logs it
// and tries again next round with the identity that still works. Only when
// the PVE granted the renewal and the files could not be written does an
// error come with new `*credentials` (the old certificate is refused from
// then on): the caller reconnects whenever `*credentials` changed.
Result<bool> RenewIfDue(HttpChannel& pve, Tre& tre, const RenewalRound& round,
                        DeviceCredentials* credentials);

}  // namespace henbtrust
