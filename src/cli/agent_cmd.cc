// henbtrust agent run: the device agent of one H(e)NB, on its device
// directory (henbtrust device provision) with the soft TrE kept there or a
// TPM (--tcti: swtpm or /dev/tpmrm0). Enrolls on first start, keeps its
// credentials in DIR/agent/, then polls the server and carries out its
// orders, renewing its certificate before each poll once it is due.
#include <chrono>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "henbtrust/agent/agent.h"
#include "henbtrust/agent/credential_store.h"
#include "henbtrust/agent/renewal.h"
#include "henbtrust/agent/update_agent.h"
#include "henbtrust/agent/watchdog_agent.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/x509.h"

namespace henbtrust::cli {

namespace {

struct AgentArgs {
  std::string dir, server = "127.0.0.1:8443", pve, ca, oam_key, trust_root, device_id, ek_cert;
  std::string tcti, swtpm_control;
  std::string listen;  // where the agent answers the PVE's integrity requests (pull)
  int interval_ms = 1000;
  int renew_within_days = static_cast<int>(kDefaultRenewalWindowSeconds / 86'400);
  int timeout_s = 0;  // 0: run until killed
  bool until_idle = false;
};

// The credentials of an earlier enrollment, or a new enrollment.
Result<DeviceCredentials> Credentials(const AgentArgs& a, Device& device, const std::string& host,
                                      uint16_t port, const std::string& ca_pem,
                                      const std::string& agent_address) {
  const std::string dir = a.dir + "/agent";
  HENB_ASSIGN_OR_RETURN(auto kept, LoadCredentials(Env::Default(), dir, ca_pem));
  if (kept) return std::move(*kept);
  if (a.ek_cert.empty()) {
    return Error(ErrorCode::kInvalidArgument,
                 "not enrolled yet: give --ek-cert (the TPM manufacturer's EK certificate)");
  }
  HENB_ASSIGN_OR_RETURN(Bytes raw, ReadFile(a.ek_cert));
  auto ek = Certificate::FromDer(raw);
  if (!ek.ok()) ek = Certificate::FromPem(ToString(raw));
  if (!ek.ok()) return ek.error().WithContext(a.ek_cert);
  auto running = device.SlotManifest(device.boot_control().active);
  if (!running) return Error(ErrorCode::kDeviceState, "the active slot holds no release");
  EnrollmentRequest req{a.device_id,         device.hardware_model(),
                        running->release_id, running->version,
                        ek->ToDer(),         agent_address};
  HENB_ASSIGN_OR_RETURN(DeviceCredentials creds, EnrollDevice(host, port, ca_pem, device, req));
  HENB_TRY(StoreCredentials(Env::Default(), dir, creds));
  if (!creds.recovery_problem.empty()) {
    std::cout << "warning: the recovery image's certificate was not kept ("
              << creds.recovery_problem << "); enroll again to retry" << std::endl;
  }
  std::cout << "enrolled " << a.device_id << " (" << device.tre().Kind() << " TrE, release "
            << running->version << ")" << std::endl;
  return creds;
}

int RunAgent(const AgentArgs& a) {
  auto ca_pem = ReadTextFile(a.ca);
  auto oam_pem = ReadTextFile(a.oam_key);
  if (!ca_pem.ok()) return Fail(ca_pem.error());
  if (!oam_pem.ok()) return Fail(oam_pem.error());
  auto oam_key = PublicKey::FromPem(*oam_pem);
  auto root = LoadTrustRoot(a.trust_root);
  auto endpoint = ParseHostPort(a.server);
  if (!oam_key.ok()) return Fail(oam_key.error().WithContext(a.oam_key));
  if (!root.ok()) return Fail(root.error());
  if (!endpoint.ok()) return Fail(endpoint.error());
  auto tre = PowerOnTre(a.dir, a.tcti, a.swtpm_control);
  if (!tre.ok()) return Fail(tre.error());
  // Power-on: resolve an interrupted update, then the measured boot.
  auto device = Device::Open(a.dir, std::move(tre).value());
  if (!device.ok()) return Fail(device.error());
  auto boot = (*device)->Boot();
  if (!boot.ok()) return Fail(boot.error());
  std::cout << "booted slot " << boot->slot << ", release " << boot->release_version
            << (boot->fell_back ? " (fell back)" : "") << std::endl;
  auto pve_endpoint = ParseHostPort(a.pve.empty() ? a.server : a.pve);
  if (!pve_endpoint.ok()) return Fail(pve_endpoint.error());
  // Pull mode: the PVE may ask this agent for evidence at --listen, which is
  // registered at enrollment (so it must stay the same across restarts).
  std::mutex tre_mu;
  std::unique_ptr<HttpServer> responder;
  std::string agent_address;
  std::pair<std::string, uint16_t> listen;
  if (!a.listen.empty()) {
    auto hp = ParseHostPort(a.listen);
    if (!hp.ok()) return Fail(hp.error());
    listen = *hp;
    if (hp->second == 0) {
      return Fail(Error(ErrorCode::kInvalidArgument,
                        "--listen needs a fixed port: the PVE keeps the address"));
    }
    agent_address = a.listen;
  }
  auto creds =
      Credentials(a, **device, pve_endpoint->first, pve_endpoint->second, *ca_pem, agent_address);
  if (!creds.ok()) return Fail(creds.error());
  // What speaks with the credentials: the pull responder, the clients and
  // the update agent, made again after a renewal.
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<HttpClient> pve_client;
  std::unique_ptr<UpdateAgent> agent;
  std::unique_ptr<WatchdogAgent> watchdog;
  auto connect = [&]() -> Status {
    watchdog.reset();
    agent.reset();
    if (!a.listen.empty()) {
      responder.reset();
      HttpServerOptions options;
      options.address = listen.first;
      options.port = listen.second;
      options.threads = 1;
      auto server = HttpServer::Start(options, ResponderTls(*creds),
                                      IntegrityResponder((*device)->tre(), tre_mu));
      if (!server.ok()) return server.error().WithContext("--listen " + a.listen);
      responder = std::move(server).value();
    }
    HENB_ASSIGN_OR_RETURN(
        client, HttpClient::Connect(endpoint->first, endpoint->second, DeviceTls(*creds)));
    if (!a.pve.empty()) {
      HENB_ASSIGN_OR_RETURN(
          pve_client,
          HttpClient::Connect(pve_endpoint->first, pve_endpoint->second, DeviceTls(*creds)));
    }
    UpdateAgentConfig config;
    config.device_id = a.device_id;
    config.trust = &*root;
    config.download_dir = a.dir + "/agent/downloads";
    HttpClient& pve = pve_client ? *pve_client : *client;
    agent = std::make_unique<UpdateAgent>(*client, pve, **device, *oam_key, config);
    // The recovery image speaks with its own identity (docs/recovery.md).
    RecoveryEndpoint recovery{endpoint->first, endpoint->second, *ca_pem, *oam_key, config};
    watchdog =
        std::make_unique<WatchdogAgent>(*client, pve, **device, std::move(recovery), a.device_id);
    return OkStatus();
  };
  if (auto st = connect(); !st.ok()) return Fail(st.error());
  if (!a.listen.empty()) std::cout << "answering integrity requests on " << a.listen << std::endl;
  RenewalRound renewal;
  renewal.device_id = a.device_id;
  renewal.dir = a.dir + "/agent";
  renewal.window_seconds = int64_t{a.renew_within_days} * 86'400;

  const auto start = std::chrono::steady_clock::now();
  bool worked = false;
  bool connected = true;
  for (;;) {
    // Renewal first: a failure leaves the working identity, and the next
    // period tries again.
    if (connected) {
      const std::string before = creds->certificate_pem;
      Result<bool> renewed = false;
      {
        std::lock_guard<std::mutex> lock(tre_mu);  // the responder quotes with the same TrE
        renewal.now = UnixSeconds();
        renewed =
            RenewIfDue(pve_client ? *pve_client : *client, (*device)->tre(), renewal, &*creds);
      }
      if (!renewed.ok()) std::cout << "renewal: " << renewed.error().ToString() << std::endl;
      if (creds->certificate_pem != before) {
        auto cert = Certificate::FromPem(creds->certificate_pem);
        std::cout << "renewed the device certificate: serial "
                  << (cert.ok() ? cert->SerialHex() : std::string("?")) << std::endl;
        connected = false;
      }
    }
    if (!connected) {
      const Status st = connect();
      connected = st.ok();
      if (!st.ok()) std::cout << "connect: " << st.error().ToString() << std::endl;
    }
    Result<PollOutcome> r = Error(ErrorCode::kNet, "not connected");
    {
      std::lock_guard<std::mutex> lock(tre_mu);  // the responder quotes with the same TrE
      // The boot stage's watchdog (the hardware's), then its ticket or, in
      // recovery, the recovery image's contact.
      auto fired = (*device)->Watchdog();
      if (!fired.ok()) {
        std::cout << "watchdog: " << fired.error().ToString() << std::endl;
      } else if (*fired) {
        std::cout << "watchdog: reset into the recovery image ("
                  << (*device)->boot_stage()->state().reason << ")" << std::endl;
      }
      if (connected) {
        auto w = watchdog->Round();
        if (!w.ok()) {
          std::cout << "watchdog: " << w.error().ToString() << std::endl;
        } else if (!w->empty()) {
          std::cout << *w << std::endl;
        }
      }
      // Minimal mode holds updates; the recovery image polls on its own.
      if (connected && (*device)->mode() == DeviceMode::kNormal) {
        r = agent->PollOnce();
      } else if (connected) {
        r = PollOutcome{AgentAction::kWait, 0, {}};  // not idle: recovery or minimal mode
      }
    }
    if (!r.ok()) {
      // The server may be restarting: say so and try again next period.
      std::cout << "poll: " << r.error().ToString() << std::endl;
    } else if (r->action != AgentAction::kNone && r->action != AgentAction::kWait) {
      std::cout << r->ToString() << std::endl;
    }
    const bool idle = r.ok() && r->action == AgentAction::kNone;
    worked = worked || !idle;
    if (a.until_idle && worked && idle) return kExitOk;
    if (a.timeout_s > 0 &&
        std::chrono::steady_clock::now() - start > std::chrono::seconds(a.timeout_s)) {
      std::cout << "agent: stopping after " << a.timeout_s << " s" << std::endl;
      return a.until_idle ? kExitInvalid : kExitOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(a.interval_ms));
  }
}

}  // namespace

void RegisterAgentCommands(CLI::App& app, int* exit_code) {
  CLI::App* agent = app.add_subcommand("agent", "The device agent of one H(e)NB");
  agent->require_subcommand(1);
  auto a = std::make_shared<AgentArgs>();
  CLI::App* run = agent->add_subcommand(
      "run", "Boot the device, enroll on first start, then poll the server and carry out orders");
  run->add_option("--dir", a->dir, "device directory (henbtrust device provision)")->required();
  run->add_option("--server", a->server, "host:port of henbtrust server (or of henbtrust oam)")
      ->capture_default_str();
  run->add_option("--pve", a->pve, "host:port of the PVE, when it is not the server");
  run->add_option("--ca", a->ca, "the server's CA (ca.pem of the server directory)")->required();
  run->add_option("--oam-key", a->oam_key, "verifies deployment orders (oam.pub)")->required();
  run->add_option("--trust-root", a->trust_root, "the vendor trust root")->required();
  run->add_option("--device-id", a->device_id, "this device's id")->required();
  run->add_option("--ek-cert", a->ek_cert,
                  "the EK certificate (DER or PEM), needed for the first enrollment");
  run->add_option("--tcti", a->tcti, "use a TPM (e.g. swtpm:host=127.0.0.1,port=2321)");
  run->add_option("--swtpm-control", a->swtpm_control, "swtpm control channel host:port");
  run->add_option("--listen", a->listen,
                  "address:port where the PVE may send integrity requests (pull mode); registered "
                  "at the first enrollment");
  run->add_option("--interval-ms", a->interval_ms, "polling period")->capture_default_str();
  run->add_option("--renew-within-days", a->renew_within_days,
                  "renew the device certificate once it expires within this many days")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  run->add_flag("--until-idle", a->until_idle, "exit once a job has ended and none is open");
  run->add_option("--timeout", a->timeout_s, "stop after this many seconds (0: never)")
      ->capture_default_str();
  OnRun(run, exit_code, [a] { return RunAgent(*a); });
}

}  // namespace henbtrust::cli
