// The PVE as an HTTPS service (docs/design.md sections 3, 4 and 6): enrollment by
// credential activation, push and pull appraisal, signed attestation results
// and the access decision for the SeGW. The API is docs/api/pve.yaml.
//
// PveService is the request handler; it keeps no state of its own beyond
// caches, so that several processes can serve one fleet over one Store.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/env.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/http.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/net/refused_certificates.h"
#include "henbtrust/pve/appraisal.h"
#include "henbtrust/store/store.h"

namespace henbtrust {

struct PveConfig {
  std::string verifier_id = "henbtrust-pve";
  std::string policy_id = "henbtrust/default-v1";
  // The client CA: issues device certificates at enrollment (and the role
  // identities at init); every client certificate must chain to it (the
  // HTTPS server's peer CA), and device agents check the PVE's pull
  // requests against it.
  Certificate client_ca;
  PrivateKey client_ca_key;
  // The server CA (PEM), which issued the servers' certificates: what a
  // device trusts for the PVE and the OAM, handed to it at enrollment. No
  // certificate the client CA issues chains to it.
  std::string server_ca_pem = {};
  // Signs attestation results (ES256).
  PrivateKey ear_key;
  // Authenticates the nonces the PVE issues (HMAC-SHA-256), so that issuing
  // one writes nothing; every instance serving one fleet needs the same key.
  // Empty: a random key for this process only.
  Bytes nonce_key = {};
  // EK certificates must chain to one of these.
  std::vector<Certificate> manufacturer_cas = {};
  // The PVE's client identity towards device agents (pull mode).
  TlsConfig agent_tls = {};
  std::chrono::milliseconds agent_timeout{10'000};
  int64_t nonce_ttl = 120;          // seconds
  int64_t enrollment_ttl = 300;     // seconds to answer a credential challenge
  int64_t result_max_age = 86'400;  // an older result does not admit a device
  std::chrono::hours device_certificate_validity{24 * 365};
  // The recovery image's certificate (docs/recovery.md) is not renewed
  // while the normal OS runs: it must outlast a recovery image that waits
  // years in its slot. What admits it is the enrolled key, not the serial.
  std::chrono::hours recovery_certificate_validity{24 * 365 * 10};
  // Threads for the requests that may block (HandleAsync): everything but
  // health, metrics and, with SQLite, a device's push and nonce request.
  int blocking_threads = 8;
  // Time (the nonces' clock, the cache of reference manifests). Not owned;
  // outlives the service.
  Env* env = Env::Default();
  // Unix seconds; env's wall clock unless a test injects one.
  std::function<int64_t()> now = nullptr;
  // The serving HTTP server's refused certificates: a device decommissioned
  // through this PVE is added at once, before any reload from the store
  // (server/refused_certificate_sync.h). Null: none.
  std::shared_ptr<RefusedCertificates> refused_certificates = nullptr;
  // Called on the thread that handled a request, once its handler has
  // returned, with that thread's CPU time over the handler in µs (an answer
  // given later, after a store commit, is not waited for): a simulator's
  // figures. Null: not measured.
  std::function<void(const HttpRequest& request, double thread_cpu_us)> on_handled = nullptr;
};

class PveService {
 public:
  PveService(Store& store, PveConfig config);
  ~PveService();
  PveService(const PveService&) = delete;
  PveService& operator=(const PveService&) = delete;

  // Thread-safe. Every failure is an HTTP 4xx/5xx answer whose JSON body is
  // {"error": {"code": "<layer.name>", "message": "..."}}.
  HttpResponse Handle(const HttpRequest& request);
  // The same, for HttpServer::StartAsync: a push's answer comes once the
  // store has committed its record (on the store's thread), so that the
  // server's threads never wait for the store and commits gather many records.
  // Health and metrics, and with a local store (SQLite) a device's push and
  // nonce request, are handled on the calling thread; every other request,
  // which may wait on another service (a pull asks the device's agent) or on
  // a database server, on a pool of `blocking_threads`, so that the server's
  // thread goes on at once.
  void HandleAsync(const HttpRequest& request, HttpResponder respond);
  // True if the PVE's route table has the target's path (whatever the
  // method): a combined server sends such a request here.
  bool Serves(std::string_view target) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// A PVE directory: the material `henbtrust pve init` writes and `pve serve`
// reads. Files: ca.pem ca.key (the server CA, which issues only server
// certificates: what clients trust for servers), client-ca.pem client-ca.key
// (the client CA: device certificates and role identities), server.pem
// server.key (TLS, naming `hosts`), pve-client.pem pve-client.key (towards
// agents), operator.pem operator.key, segw.pem segw.key, ear.key ear.pub,
// nonce.key.
Status InitPveDirectory(const std::string& dir, const std::vector<std::string>& hosts);

struct PveDirectory {
  PveConfig config;  // without manufacturer CAs
  TlsConfig server_tls;
};
Result<PveDirectory> LoadPveDirectory(const std::string& dir);

// A client certificate from the client CA for `role`, over a fresh P-256 key.
struct IssuedIdentity {
  std::string certificate_pem;
  std::string private_key_pem;
};
Result<IssuedIdentity> IssueClientIdentity(const Certificate& ca, const PrivateKey& ca_key,
                                           const std::string& common_name, std::string_view role);

}  // namespace henbtrust
