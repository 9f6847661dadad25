// Keeps a TLS server's refused certificates (net/refused_certificates.h) in
// step with the store: the serials of decommissioned devices
// (Store::RefusedCertificateSerials), read when the server starts and then
// every few seconds, so that a device decommissioned by another process (an
// operator's command, another instance) is refused at the handshake within
// one period, without a store round trip per handshake.
#pragma once

#include <chrono>
#include <memory>

#include "henbtrust/core/result.h"
#include "henbtrust/net/refused_certificates.h"
#include "henbtrust/store/store.h"

namespace henbtrust {

class RefusedCertificateSync {
 public:
  // Loads the set from `store` (an error if it cannot: a server must not
  // start without it), then again every `period` on a thread of its own
  // until destroyed (a zero period: only this once). A later load that
  // fails leaves the set as it was, says so on stderr once while the error
  // stays the same, and is tried again a period later. `store` outlives
  // the sync.
  static Result<std::unique_ptr<RefusedCertificateSync>> Start(
      Store& store, std::shared_ptr<RefusedCertificates> refused, std::chrono::milliseconds period);
  // Stops the thread (at once, not at the end of a period) and joins it.
  ~RefusedCertificateSync();
  RefusedCertificateSync(const RefusedCertificateSync&) = delete;
  RefusedCertificateSync& operator=(const RefusedCertificateSync&) = delete;

  // Loads the set now; thread-safe.
  Status Refresh();

  struct Impl;

 private:
  explicit RefusedCertificateSync(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace henbtrust
