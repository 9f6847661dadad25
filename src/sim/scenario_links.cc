// How the scenario runner's devices reach the services (sim/scenario_runner.h):
// through the services' handlers in this process, or over HTTPS to the same
// services serving on a loopback port. Either way a device's request first
// passes the runner's gate, where a device without power and a service in an
// outage fail it as a connection that cannot be made would.
#include <algorithm>
#include <memory>

#include "henbtrust/net/in_process_channel.h"
#include "sim/gated_channel.h"
#include "sim/scenario_runner.h"

namespace henbtrust::sim {

namespace {

constexpr char kEvidence[] = "/v1/evidence";

}  // namespace

void Run::CountAppraisals(ServerOptions& options) {
  // The CPU of an appraisal is that of the PVE thread that made it (a
  // device's push on the thread that received it, with SQLite; step 9 on
  // one of the PVE's own threads), however many other threads run beside
  // it: devices' turns, the HTTPS server's. The store's commit, on its own
  // thread, is not counted.
  options.pve.on_handled = [this](const HttpRequest& request, double thread_cpu_us) {
    if (request.target == kEvidence || request.target.ends_with("/update-appraisals")) {
      pve_cpu_ns_.fetch_add(static_cast<int64_t>(thread_cpu_us * 1000), std::memory_order_relaxed);
    }
  };
  options.wrap_pve_link = [this](PveLink link) { return WrapLink(std::move(link)); };
  if (!Https()) return;  // Serve counts them
  options.wrap_handler = [this](AsyncHttpHandler inner) -> AsyncHttpHandler {
    return [this, inner = std::move(inner)](const HttpRequest& request, HttpResponder respond) {
      if (request.target != kEvidence) return inner(request, std::move(respond));
      inner(request, [this, respond = std::move(respond)](HttpResponse answer) {
        if (answer.status == 200) appraisals_.fetch_add(1, std::memory_order_relaxed);
        respond(std::move(answer));
      });
    };
  };
}

PveLink Run::WrapLink(PveLink link) {
  return [this, link = std::move(link)](const std::string& method, const std::string& target,
                                        const std::string& body) -> Result<HttpResponse> {
    if (pve_down_) return Error(ErrorCode::kNet, "cannot connect to the PVE (outage)");
    auto answer = link(method, target, body);
    if (target.ends_with("/update-appraisals") && answer.ok() && answer->status == 200) {
      appraisals_.fetch_add(1, std::memory_order_relaxed);
    }
    return answer;
  };
}

Status Run::Gate(const std::string& device, const std::string& target) const {
  if (powered_off_count_.load() > 0) {
    const MutexLock lock(power_mu_);
    if (powered_off_.contains(device)) return Error(ErrorCode::kNet, "the device has no power");
  }
  if (!server_) return Error(ErrorCode::kNet, "cannot connect to the server (not running)");
  if (server_->oam().Serves(target)) {
    if (oam_down_) return Error(ErrorCode::kNet, "cannot connect to the OAM (outage)");
    return OkStatus();
  }
  if (pve_down_ || server_->pve() == nullptr) {
    return Error(ErrorCode::kNet, "cannot connect to the PVE (outage)");
  }
  return OkStatus();
}

// In this process: the request goes to the service that serves its path.
Result<HttpResponse> Run::Serve(const HttpRequest& request) {
  if (!server_ || server_->pve() == nullptr) {
    return Error(ErrorCode::kNet, "cannot connect to the server (not running)");
  }
  if (server_->oam().Serves(request.target)) return server_->oam().Handle(request);
  HttpResponse answer = server_->pve()->Handle(request);
  if (request.target == kEvidence && answer.status == 200) {
    appraisals_.fetch_add(1, std::memory_order_relaxed);
  }
  return answer;
}

Result<std::unique_ptr<HttpChannel>> Run::Connect(const std::string& device,
                                                  const TlsConfig& identity, HttpClient** https) {
  std::unique_ptr<HttpChannel> inner;
  if (Https()) {
    HENB_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> client,
                          HttpClient::Connect("127.0.0.1", port_, tls_, identity));
    if (https != nullptr) *https = client.get();
    inner = std::move(client);
  } else {
    // What a TLS server would read from the certificate.
    HENB_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromPem(identity.certificate_chain));
    return InProcess(device, PeerIdentityOf(cert));
  }
  return Gated(device, std::move(inner));
}

std::unique_ptr<HttpChannel> Run::InProcess(const std::string& device, PeerIdentity peer) {
  return Gated(device, std::make_unique<InProcessChannel>(
                           [this](const HttpRequest& r) { return Serve(r); }, std::move(peer)));
}

std::unique_ptr<HttpChannel> Run::Gated(const std::string& device,
                                        std::unique_ptr<HttpChannel> inner) {
  return std::make_unique<GatedChannel>(
      std::move(inner), [this, device](const std::string& target) { return Gate(device, target); });
}

namespace {

// A device's TLS identity among its files, in-process (where no TLS
// context holds it): the certificate's serial, common name and
// organisation on a line each, then its DER. What a server reads from the
// certificate, kept so that a dormant device's channel can go and come back
// without parsing it again.
std::string IdentityFile(const SimHenb& d) { return d.dir + "/sim-identity"; }

}  // namespace

Status Run::KeepIdentity(const SimHenb& d, const PeerIdentity& peer) {
  std::string text = peer.serial + "\n" + peer.common_name + "\n" + peer.organization + "\n";
  text.append(peer.certificate_der.begin(), peer.certificate_der.end());
  return env_.WriteFileAtomic(IdentityFile(d), AsBytes(text));
}

Result<PeerIdentity> Run::KeptIdentity(const SimHenb& d) {
  constexpr size_t kMaxIdentityBytes = size_t{16} * 1024;
  HENB_ASSIGN_OR_RETURN(Bytes kept, env_.ReadFile(IdentityFile(d), kMaxIdentityBytes));
  const std::string_view text(reinterpret_cast<const char*>(kept.data()), kept.size());
  PeerIdentity peer;
  peer.presented = true;
  peer.verified = true;
  size_t pos = 0;
  for (std::string* field : {&peer.serial, &peer.common_name, &peer.organization}) {
    const size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) {
      return Error(ErrorCode::kMalformed, IdentityFile(d) + ": cut short");
    }
    *field = std::string(text.substr(pos, eol - pos));
    pos = eol + 1;
  }
  peer.certificate_der.assign(kept.begin() + static_cast<std::ptrdiff_t>(pos), kept.end());
  return peer;
}

Result<DeviceCredentials> Run::Enroll(Device& device, const EnrollmentRequest& request) {
  if (Https()) {
    // The shared context, presenting no certificate.
    HENB_ASSIGN_OR_RETURN(std::unique_ptr<HttpClient> client,
                          HttpClient::Connect("127.0.0.1", port_, tls_, TlsConfig{}));
    return EnrollDevice(*client, device, request);
  }
  InProcessChannel enrollment([this](const HttpRequest& r) { return Serve(r); }, PeerIdentity{});
  return EnrollDevice(enrollment, device, request);
}

// A hostile OS sends nothing, and so holds no connection either.
void Run::BoundConnections(SimHenb& d) {
  if (d.https == nullptr || !d.https->connected()) return;
  if (!d.hostile && open_connections_ < max_open_) {
    ++open_connections_;
    return;
  }
  d.https->Disconnect();
}

uint64_t Run::Accepted() const {
  return accepted_before_ + (server_ ? server_->http_stats().accepted : 0);
}

}  // namespace henbtrust::sim
