// The OAM and the PVE in one process over one store (`henbtrust server
// run`), or the OAM alone beside a PVE in another process (`henbtrust oam
// serve`): the composition root of the services, used by the CLI and by
// the tests.
//
// A server directory (InitServerDirectory) is a PVE directory (see
// InitPveDirectory) plus the OAM's order key (oam.key, oam.pub), its
// release catalogue (catalogue/), the audit log's checkpoint key (audit.key,
// audit.pub) and, by default, the SQLite store henbtrust.db.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "henbtrust/core/result.h"
#include "henbtrust/net/http.h"
#include "henbtrust/oam/oam.h"
#include "henbtrust/pve/service.h"
#include "henbtrust/store/store.h"

namespace henbtrust {

struct ServerOptions {
  PveConfig pve;         // the in-process PVE's; unused with `remote_pve`
  OamConfig oam;         // the OAM's
  TlsConfig server_tls;  // the HTTPS server's identity; its peer CA is the client CA
  // sqlite:PATH or postgres:CONNINFO; used by the Open that is given no Store.
  std::string store = {};
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0: any free port; see Server::port()
  int threads = 4;    // HTTP server threads, and as many for the OAM's requests
  // A keep-alive connection idle this long (on env's steady clock) is closed.
  std::chrono::milliseconds idle_timeout{60'000};
  // host:port of a PVE in another process, reached over mutual TLS with
  // `remote_pve_tls` (the operator identity); empty: the PVE runs here.
  std::string remote_pve = {};
  TlsConfig remote_pve_tls = {};
  // How often the driver thread calls OamService::Drive (deadlines, steps
  // 2-5 and 9 of due jobs); zero: no driver thread, the caller drives.
  std::chrono::milliseconds drive_interval{500};
  // Called on the driver thread after each Drive (the CLI anchors the audit
  // log there).
  std::function<void(Store&)> after_drive = nullptr;
  // Decorators, applied once at Open: around the link through which the OAM
  // reaches the PVE, and around the handler of every HTTP request (tests:
  // an outage, a man in the middle).
  std::function<PveLink(PveLink)> wrap_pve_link = nullptr;
  std::function<AsyncHttpHandler(AsyncHttpHandler)> wrap_handler = nullptr;
  // How often the HTTPS server's refused certificates (those of
  // decommissioned devices, refused at the TLS handshake) are read from the
  // store again; a decommissioning through this server's PVE takes effect at
  // once. Zero: read only at Start.
  std::chrono::milliseconds refused_certificates_refresh{5'000};
  // Time and files of every part: the store Open opens, the HTTP server, and
  // the OAM and PVE (Open sets their `env` to this one). Not owned.
  Env* env = Env::Default();
};

// Creates a server directory at `dir` whose server certificate names `hosts`.
Status InitServerDirectory(const std::string& dir, const std::vector<std::string>& hosts);

// The services' configuration from a server directory: the PVE's keys and
// CAs (without manufacturer CAs), the OAM's order key and catalogue, the TLS
// identity, and the store sqlite:DIR/henbtrust.db. Errors name the file.
Result<ServerOptions> LoadServerDirectory(const std::string& dir);

// The OAM's configuration alone (operator commands that need no PVE).
Result<OamConfig> LoadOamConfig(const std::string& dir);

// The operator's client identity in `dir`, for reaching a remote PVE.
Result<TlsConfig> LoadOperatorTls(const std::string& dir);

// sqlite:DIR/henbtrust.db when `store` is empty, else `store`.
std::string ServerStoreLocation(const std::string& dir, const std::string& store);

// The PveLink an OAM uses for a PVE in this process: its handler, called
// with the operator role.
PveLink InProcessPveLink(PveService& pve);

// Lifetime: Open composes the services (no thread serves yet, no port is
// bound), Start listens and starts the driver, Stop (or the destructor)
// stops the driver, then the HTTP server, letting requests in flight finish.
// Accessors are thread-safe; Start and Stop are for one thread.
class Server {
 public:
  // Over `store`, which must outlive the server.
  static Result<std::unique_ptr<Server>> Open(ServerOptions options, Store& store);
  // Over the store at options.store, owned by the server.
  static Result<std::unique_ptr<Server>> Open(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds options.address:options.port and serves. net.* errors when the
  // address cannot be bound.
  Status Start();
  // The port listened on; 0 before Start.
  uint16_t port() const;
  // The HTTP server's counters since Start; zeros before.
  HttpServerStats http_stats() const;
  // Idempotent.
  void Stop();

  Store& store();
  OamService& oam();
  // Null with a remote PVE.
  PveService* pve();
  const ServerOptions& options() const;

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace henbtrust
