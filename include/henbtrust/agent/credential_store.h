// Where an agent keeps its TLS identity: DIR/device.pem, DIR/device.key
// (0600) and DIR/client-ca.pem of its agent directory, written so that a
// power loss never leaves a certificate beside another's key, a renewal
// included (docs/pve.md, "Certificate renewal and decommissioning").
#pragma once

#include <optional>
#include <string>

#include "henbtrust/agent/agent.h"
#include "henbtrust/core/env.h"

namespace henbtrust {

// The credentials kept in `dir`, with `ca_pem` (the server CA, given apart)
// as their ca_pem; nullopt when none are kept (the device has not
// enrolled). A StoreCredentials that a power loss cut short is finished
// first if it got as far as its new certificate, and forgotten otherwise,
// so that the pair read is always one certificate with its own key. Files
// through `env` (not owned). kIo naming the file if one cannot be read.
Result<std::optional<DeviceCredentials>> LoadCredentials(Env* env, const std::string& dir,
                                                         const std::string& ca_pem);

// Keeps `credentials` in `dir` (created if missing): the new key and
// certificate are written beside the old ones, each synced, then take
// their place, the key first. After a power loss at any point,
// LoadCredentials gives the old pair or the new one.
Status StoreCredentials(Env* env, const std::string& dir, const DeviceCredentials& credentials);

}  // namespace henbtrust
