#include "henbtrust/server/server.h"

#include <chrono>
#include <condition_variable>
#include <exception>
#include <iostream>
#include <optional>
#include <thread>

#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/net/api.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/net/worker_pool.h"
#include "henbtrust/server/refused_certificate_sync.h"

namespace henbtrust {

namespace {

// A PVE in another process: one mutual-TLS connection with the operator
// identity, one request at a time.
Result<PveLink> RemotePveLink(const std::string& host_port, const TlsConfig& tls) {
  HENB_ASSIGN_OR_RETURN(auto endpoint, ParseHostPort(host_port));
  auto client = HttpClient::Connect(endpoint.first, endpoint.second, tls);
  if (!client.ok()) return client.error().WithContext("PVE at " + host_port);
  struct Connection {
    Mutex mu;
    std::unique_ptr<HttpClient> client PT_GUARDED_BY(mu);
  };
  auto connection = std::make_shared<Connection>();
  connection->client = std::move(client).value();
  return PveLink([connection](const std::string& method, const std::string& target,
                              const std::string& body) -> Result<HttpResponse> {
    MutexLock lock(connection->mu);
    return connection->client->Request(method, target, "application/json", body);
  });
}

}  // namespace

PveLink InProcessPveLink(PveService& pve) {
  return [&pve](const std::string& method, const std::string& target,
                const std::string& body) -> Result<HttpResponse> {
    HttpRequest r{method, target, "application/json", "", body, {}};
    r.peer = {true, true, "", "oam", std::string(kRoleOperator), {}};
    return pve.Handle(r);
  };
}

struct Server::Impl {
  explicit Impl(ServerOptions o) : options(std::move(o)) {}

  // Sends OAM targets to the OAM's pool (its requests wait on the store and
  // the PVE), the rest to the PVE.
  void Route(const HttpRequest& r, HttpResponder respond) {
    if (oam->Serves(r.target)) {
      return oam_pool->Post([this, r, respond = std::move(respond)] {
        try {
          respond(oam->Handle(r));
        } catch (const std::exception& e) {
          respond(ErrorResponse(Error(ErrorCode::kInternal, e.what())));
        }
      });
    }
    if (!pve) {
      return respond(ErrorResponse(Error(
          ErrorCode::kNetNotFound,
          "this is the OAM; the PVE is at " + options.remote_pve + " (no " + r.target + ")")));
    }
    pve->HandleAsync(r, std::move(respond));
  }

  // Drives the OAM every drive_interval until Stop().
  void RunDriver() EXCLUDES(driver_mu) {
    MutexLock lock(driver_mu);
    for (;;) {
      const auto deadline = std::chrono::steady_clock::now() + options.drive_interval;
      while (!stopping && lock.WaitUntil(driver_cv, deadline)) {
      }
      if (stopping) return;
      lock.Unlock();
      auto moved = oam->Drive();
      if (!moved.ok()) {
        std::cerr << "henbtrust server: driver: " << moved.error().ToString() << "\n";
      }
      if (options.after_drive) options.after_drive(*store);
      lock.Lock();
    }
  }

  ServerOptions options;
  std::unique_ptr<Store> owned_store;
  Store* store = nullptr;
  // Destroyed in reverse order: the HTTP server first, then the pool that
  // holds the OAM's requests, then the services.
  std::unique_ptr<PveService> pve;
  std::unique_ptr<OamService> oam;
  std::optional<WorkerPool> oam_pool;
  // Shared by the HTTP server (at each handshake), the PVE (a device it
  // decommissions) and the sync that reloads it from the store.
  std::shared_ptr<RefusedCertificates> refused = std::make_shared<RefusedCertificates>();
  std::unique_ptr<RefusedCertificateSync> refused_sync;
  std::unique_ptr<HttpServer> http;

  Mutex driver_mu;
  std::condition_variable driver_cv;
  bool stopping GUARDED_BY(driver_mu) = false;
  std::thread driver;
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

Result<std::unique_ptr<Server>> Server::Open(ServerOptions options) {
  HENB_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(options.store, options.env));
  Store& borrowed = *store;
  HENB_ASSIGN_OR_RETURN(auto server, Open(std::move(options), borrowed));
  server->impl_->owned_store = std::move(store);
  return server;
}

Result<std::unique_ptr<Server>> Server::Open(ServerOptions options, Store& store) {
  if (options.env == nullptr) return Error(ErrorCode::kInvalidArgument, "no Env");
  options.pve.env = options.env;
  options.oam.env = options.env;
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->store = &store;
  const ServerOptions& o = impl->options;
  PveLink link;
  if (o.remote_pve.empty()) {
    PveConfig pve = o.pve;
    pve.refused_certificates = impl->refused;
    impl->pve = std::make_unique<PveService>(store, std::move(pve));
    link = InProcessPveLink(*impl->pve);
  } else {
    HENB_ASSIGN_OR_RETURN(link, RemotePveLink(o.remote_pve, o.remote_pve_tls));
  }
  if (o.wrap_pve_link) link = o.wrap_pve_link(std::move(link));
  impl->oam = std::make_unique<OamService>(store, std::move(link), o.oam);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Status Server::Start() {
  Impl& s = *impl_;
  if (s.http) return Error(ErrorCode::kInternal, "the server has started already");
  s.oam_pool.emplace(s.options.threads);
  AsyncHttpHandler handler = [&s](const HttpRequest& r, HttpResponder respond) {
    s.Route(r, std::move(respond));
  };
  if (s.options.wrap_handler) handler = s.options.wrap_handler(std::move(handler));
  HttpServerOptions http;
  http.address = s.options.address;
  http.port = s.options.port;
  http.threads = s.options.threads;
  http.idle_timeout = s.options.idle_timeout;
  http.env = s.options.env;
  HENB_ASSIGN_OR_RETURN(
      s.refused_sync,
      RefusedCertificateSync::Start(*s.store, s.refused, s.options.refused_certificates_refresh));
  http.refused_certificates = s.refused;
  HENB_ASSIGN_OR_RETURN(s.http, HttpServer::StartAsync(http, s.options.server_tls, handler));
  if (s.options.drive_interval.count() > 0) s.driver = std::thread([&s] { s.RunDriver(); });
  return OkStatus();
}

uint16_t Server::port() const { return impl_->http ? impl_->http->port() : 0; }

HttpServerStats Server::http_stats() const {
  return impl_->http ? impl_->http->Stats() : HttpServerStats{};
}

void Server::Stop() {
  Impl& s = *impl_;
  {
    MutexLock lock(s.driver_mu);
    s.stopping = true;
  }
  s.driver_cv.notify_all();
  if (s.driver.joinable()) s.driver.join();
  if (s.http) s.http->Stop();
  s.refused_sync.reset();
}

Store& Server::store() { return *impl_->store; }
OamService& Server::oam() { return *impl_->oam; }
PveService* Server::pve() { return impl_->pve.get(); }
const ServerOptions& Server::options() const { return impl_->options; }

}  // namespace henbtrust
