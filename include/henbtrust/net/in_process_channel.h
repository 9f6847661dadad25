// A channel to a service in the same process (net/http_channel.h): each
// request goes straight to the service's handler, with the client's identity
// as a TLS server would have read it from the client's certificate. No
// socket, no TLS context, no thread: what the fleet simulator gives each of
// its devices, so that a million fit in one process (docs/simulation.md).
//
// The channel can be cut (SetReachable(false)): every request then fails as
// a connection that cannot be made does (kNet), which is how the simulator
// plays a server outage or an attacker on the path who drops everything.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/http.h"

namespace henbtrust {

// The identity a TLS server reads from a verified client certificate.
PeerIdentity PeerIdentityOf(const Certificate& certificate);

// Answers a request, or fails as a connection would (kNet: the service is
// down, say).
using InProcessHandler = std::function<Result<HttpResponse>(const HttpRequest&)>;

class InProcessChannel final : public HttpChannel {
 public:
  // `handler` answers every request; `peer` is the client as the service
  // sees it (an empty PeerIdentity: no client certificate, as at
  // enrollment).
  InProcessChannel(InProcessHandler handler, PeerIdentity peer);

  Result<HttpResponse> Request(
      const std::string& method, const std::string& target,
      const std::string& content_type = "application/json", const std::string& body = {},
      const std::vector<std::pair<std::string, std::string>>& headers = {}) override;

  // false: every request fails with kNet until it is true again.
  void SetReachable(bool reachable) { reachable_ = reachable; }
  bool reachable() const { return reachable_; }
  // Requests answered so far.
  int64_t requests() const { return requests_; }

 private:
  InProcessHandler handler_;
  PeerIdentity peer_;
  bool reachable_ = true;
  int64_t requests_ = 0;
};

}  // namespace henbtrust
