// The client certificates a TLS server refuses at the handshake, by serial
// (hex, as Certificate::SerialHex): those of decommissioned devices
// (docs/pve.md, "Certificate renewal and decommissioning"). The set lives in
// memory so that no handshake waits on a store; its owner fills it from the
// store now and then (server/refused_certificate_sync.h) and adds a serial
// at once when it decommissions a device itself. Thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "henbtrust/core/thread_annotations.h"

namespace henbtrust {

class RefusedCertificates {
 public:
  bool Contains(std::string_view serial) const EXCLUDES(mu_);
  // The set becomes what the store lists now, together with every serial
  // Added that the list does not hold yet (a load that began before that
  // decommissioning committed must not bring the certificate back).
  void Replace(const std::vector<std::string>& serials) EXCLUDES(mu_);
  // One more, at once: a device this process has just decommissioned.
  void Add(const std::string& serial) EXCLUDES(mu_);
  size_t size() const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::unordered_set<std::string> serials_ GUARDED_BY(mu_);
  // Added, and not yet in a list that Replace gave.
  std::unordered_set<std::string> pending_ GUARDED_BY(mu_);
};

}  // namespace henbtrust
