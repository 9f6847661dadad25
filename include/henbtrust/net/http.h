// HTTPS for the services and their clients: TLS 1.3 only, mutual TLS, HTTP/1.1
// with keep-alive. Boost.Beast and Asio stay inside src/net; this header is
// what the rest of henbtrust sees.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/core/env.h"
#include "henbtrust/net/http_channel.h"

namespace henbtrust {

class RefusedCertificates;  // net/refused_certificates.h

// Who is at the other end of a TLS connection, as its certificate says.
struct PeerIdentity {
  bool presented = false;    // the peer sent a certificate
  bool verified = false;     // ... and it chains to the configured CA
  std::string verify_error;  // why not, when presented but not verified
  std::string common_name;   // subject CN
  std::string organization;  // subject O: the role ("henbtrust-device", ...)
  Bytes certificate_der;
  std::string serial = {};  // the certificate's serial number, hex (Certificate::SerialHex)
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::string content_type;
  std::string range;  // the Range header as sent, e.g. "bytes=1024-"; empty if none
  std::string body;
  PeerIdentity peer;  // the same for every request of a connection
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

// TLS material, PEM. A server presents `certificate_chain` (leaf first) and
// asks clients for a certificate issued by `peer_ca`; a client checks the
// server against `peer_ca` and presents its own certificate if it has one.
struct TlsConfig {
  std::string certificate_chain;
  std::string private_key;
  std::string peer_ca;
};

// Called for each request on a pool of as many threads as the server has,
// apart from the threads that serve the connections: it may block (store
// calls, outbound requests) and must be thread-safe. A handler that throws
// answers 500 and the server goes on.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Delivers an answer. Call it once, from any thread, even after the server
// has stopped (the answer is then dropped).
using HttpResponder = std::function<void(HttpResponse)>;
// A handler that answers through `respond`, now or later: one that would
// otherwise wait (for a store commit, say) returns instead, and the server
// thread goes on with other connections. It is called on the thread that
// serves the connection (each connection stays on one of the server's
// threads), so it must not block: it hands work that may block to other
// threads (a WorkerPool), which answer. It must copy what it keeps of the
// request, which lives only for the call. A handler that throws before it
// answers answers 500.
using AsyncHttpHandler = std::function<void(const HttpRequest&, HttpResponder)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; see HttpServer::port()
  int threads = 4;
  size_t max_body_bytes = 1 << 20;  // larger requests get 413
  size_t max_header_bytes = 8 << 10;
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive between requests
  std::chrono::milliseconds request_timeout{30'000};  // reading one request
  std::chrono::milliseconds shutdown_grace{5'000};  // Stop() waits this long for in-flight requests
  // The steady clock of the timeouts above (a sweep on a real timer, at
  // least every second, closes the connections whose deadline on this clock
  // has passed); not owned, outlives the server. shutdown_grace is real time.
  Env* env = Env::Default();
  // At most this many connections (>= 1) are held at once. A server holding
  // them all accepts no more until one closes: later clients wait in the
  // listen backlog, and those held go on being served. Start() lowers it to
  // what the process's descriptor limit (RLIMIT_NOFILE) leaves after 128
  // for files, the store and outgoing connections, so that the cap, not
  // EMFILE, is what turns clients away.
  size_t max_connections = 4096;
  // Client certificates whose serial is in this set fail the TLS handshake
  // (a decommissioned device's); every other certificate, verified or not,
  // completes it, and the handler sees the PeerIdentity. Read at each
  // handshake, never from a store; null: none is refused.
  std::shared_ptr<RefusedCertificates> refused_certificates = nullptr;
};

// What a server has done so far; each figure is read on its own, not as one
// snapshot of all.
struct HttpServerStats {
  uint64_t accepted = 0;         // connections accepted since Start()
  uint64_t accept_failures = 0;  // accepts that failed, each retry counted
  size_t connections = 0;        // connections held now, at most max_connections
};

// A TLS 1.3 HTTP/1.1 server. Clients without a certificate, or with one that
// does not verify, still connect: the handler sees PeerIdentity and answers
// 401 itself, so that every failure is a clear HTTP answer (a certificate
// in HttpServerOptions::refused_certificates alone fails the handshake). Out of
// descriptors or memory, it retries accepting after a pause (10 ms, doubling
// to 1 s) and goes on serving the connections it holds.
class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   const TlsConfig& tls, HttpHandler handler);
  static Result<std::unique_ptr<HttpServer>> StartAsync(const HttpServerOptions& options,
                                                        const TlsConfig& tls,
                                                        AsyncHttpHandler handler);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  // Thread-safe; may be called at any time until the server is destroyed.
  HttpServerStats Stats() const;
  // Graceful: stops accepting, closes idle keep-alive connections, lets
  // in-flight requests finish (up to shutdown_grace), then joins the threads.
  // Idempotent.
  void Stop();
  // Blocks until Stop() has been called (from another thread or a signal
  // handler thread) and has finished.
  void Wait();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  static Result<std::unique_ptr<HttpServer>> Start(std::unique_ptr<Impl> impl,
                                                   const TlsConfig& tls);
  std::unique_ptr<Impl> impl_;
};

struct HttpClientOptions {
  std::chrono::milliseconds timeout{30'000};  // connect + handshake, and each request
  // The name the server certificate must carry, when it is not the host
  // (a device agent's certificate names the device id).
  std::string server_name = {};
  // When set, the server certificate must carry this URI name (a device
  // agent's: DeviceUri), checked instead of any host name ...
  std::string peer_uri = {};
  // ... and, when this is set too, have this serial (hex): the one
  // certificate that speaks for the device.
  std::string peer_serial = {};
  size_t max_response_bytes = 16 << 20;
};

// What many clients of one server share: a TLS context that trusts the
// server's CA. A fleet of simulated devices makes one, and each device's
// client brings only its own certificate and key to its connections
// (HttpClient::Connect below), instead of a context of its own. Thread-safe.
class ClientTlsContext {
 public:
  // `server_ca` (PEM, one or more certificates) verifies the server.
  static Result<std::shared_ptr<ClientTlsContext>> Create(const std::string& server_ca);
  ~ClientTlsContext();
  ClientTlsContext(const ClientTlsContext&) = delete;
  ClientTlsContext& operator=(const ClientTlsContext&) = delete;

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit ClientTlsContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A synchronous HTTPS client holding one keep-alive connection; it reconnects
// when the server has closed it. Not thread-safe: one per thread.
class HttpClient final : public HttpChannel {
 public:
  // `host` is a name or an IP address; the server certificate must name it.
  static Result<std::unique_ptr<HttpClient>> Connect(const std::string& host, uint16_t port,
                                                     const TlsConfig& tls,
                                                     const HttpClientOptions& options = {});
  // The same on a shared context: `identity` gives the certificate chain
  // and key this client presents (its peer_ca is not used; `shared` holds
  // the trust).
  static Result<std::unique_ptr<HttpClient>> Connect(const std::string& host, uint16_t port,
                                                     std::shared_ptr<ClientTlsContext> shared,
                                                     const TlsConfig& identity,
                                                     const HttpClientOptions& options = {});
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Any HTTP status is a successful exchange; an Error means there was none
  // (kNet, kNetTls, kNetTimeout, kNetTooLarge).
  // `headers` are sent as well; the answer's Content-Range and Allow, if
  // any, come back in HttpResponse::headers.
  Result<HttpResponse> Request(
      const std::string& method, const std::string& target,
      const std::string& content_type = "application/json", const std::string& body = {},
      const std::vector<std::pair<std::string, std::string>>& headers = {}) override;
  // How many connections (TLS handshakes) this client has made so far.
  int connections() const;
  // Whether it holds a connection now.
  bool connected() const;
  // Closes the connection it holds, if any; the next request opens a new
  // one. A fleet that keeps a bounded number of connections open calls it.
  void Disconnect();

  struct Impl;

 private:
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "host:port" (IPv6 as "[::1]:port") into its parts. kInvalidArgument if malformed.
Result<std::pair<std::string, uint16_t>> ParseHostPort(const std::string& text);

}  // namespace henbtrust
