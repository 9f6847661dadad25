// henbtrust segw-check | segw-watch: a security gateway's admission control
// through the PVE's access decision (docs/segw.md).

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "cli/shell_command.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/segw/access_check.h"
#include "henbtrust/segw/tunnel_watch.h"

namespace henbtrust::cli {

namespace {

// The gateway's link to the PVE: its own TLS role (server init writes
// segw.pem and segw.key).
struct PveLinkArgs {
  std::string pve;  // HOST:PORT
  std::string ca;
  std::string certificate;
  std::string key;
  int timeout = 5;  // seconds, connect and each request
  int64_t max_age = 0;
  std::string unreachable;
};

void AddPveLinkOptions(CLI::App* sub, PveLinkArgs& a, const std::string& unreachable_default,
                       const std::string& unreachable_help, const std::string& max_age_help) {
  a.unreachable = unreachable_default;
  sub->add_option("--pve", a.pve, "the PVE (or henbtrust server), HOST:PORT")->required();
  sub->add_option("--ca", a.ca, "the server CA (ca.pem of server/pve init)")->required();
  sub->add_option("--cert", a.certificate, "the gateway's certificate (segw.pem)")->required();
  sub->add_option("--key", a.key, "the gateway's key (segw.key)")->required();
  sub->add_option("--timeout", a.timeout, "seconds to connect and for each answer (default 5)")
      ->check(CLI::Range(1, 300));
  sub->add_option("--max-age", a.max_age, max_age_help)
      ->check(CLI::Range(int64_t{1}, int64_t{10} * 365 * 86'400));
  sub->add_option("--unreachable", a.unreachable, unreachable_help)
      ->check(CLI::IsMember({"admit", "refuse"}));
}

// A lazily connected client; a failed connect is tried again on the next GET.
class PveConnection {
 public:
  // Every error here is the gateway's configuration: exit 2, never "refuse".
  static Result<PveConnection> Open(const PveLinkArgs& a) {
    auto opened = OpenUnchecked(a);
    if (!opened.ok()) return Error(ErrorCode::kInvalidArgument, opened.error().ToString());
    return opened;
  }

 private:
  static Result<PveConnection> OpenUnchecked(const PveLinkArgs& a) {
    HENB_ASSIGN_OR_RETURN(auto host_port, ParseHostPort(a.pve));
    HENB_ASSIGN_OR_RETURN(std::string ca, ReadTextFile(a.ca));
    HENB_ASSIGN_OR_RETURN(std::string certificate, ReadTextFile(a.certificate));
    HENB_ASSIGN_OR_RETURN(std::string key, ReadTextFile(a.key));
    HENB_ASSIGN_OR_RETURN(Certificate parsed, Certificate::FromPem(certificate));
    HENB_ASSIGN_OR_RETURN(PrivateKey private_key, PrivateKey::FromPem(key));
    HENB_ASSIGN_OR_RETURN(PublicKey subject_key, parsed.SubjectKey());
    if (subject_key.ToDer() != private_key.Public().ToDer())
      return Error(ErrorCode::kInvalidArgument, a.key + " is not the key of " + a.certificate);
    PveConnection c;
    c.host_ = host_port.first;
    c.port_ = host_port.second;
    c.tls_ = TlsConfig{certificate, key, ca};
    c.options_.timeout = std::chrono::seconds(a.timeout);
    return c;
  }

 public:
  PveGet Get() {
    return [this](const std::string& target) -> Result<HttpResponse> {
      if (!client_) {
        HENB_ASSIGN_OR_RETURN(client_, HttpClient::Connect(host_, port_, tls_, options_));
      }
      return client_->Request("GET", target);
    };
  }

 private:
  std::string host_;
  uint16_t port_ = 0;
  TlsConfig tls_;
  HttpClientOptions options_;
  std::unique_ptr<HttpClient> client_;
};

struct CheckArgs {
  PveLinkArgs link;
  std::string device_id;
  std::string certificate_serial;
};

int RunCheck(const CheckArgs& a) {
  auto connection = PveConnection::Open(a.link);
  if (!connection.ok()) return Fail(connection.error());
  AccessQuestion q;
  q.device_id = a.device_id;
  q.max_age = a.link.max_age;
  q.certificate_serial = a.certificate_serial;
  q.unreachable = *ParseUnreachablePolicy(a.link.unreachable);
  auto verdict = CheckAccess(connection->Get(), q);
  if (!verdict.ok()) return Fail(verdict.error());
  std::cout << verdict->line << "\n";
  return verdict->admit ? kExitOk : kExitInvalid;
}

struct WatchArgs {
  PveLinkArgs link;
  std::string list_command;
  std::string cut_command;
  int interval = 30;
  int command_timeout = 60;
  bool once = false;
};

int RunWatch(const WatchArgs& a) {
  auto connection = PveConnection::Open(a.link);
  if (!connection.ok()) return Fail(connection.error());
  WatchOptions options;
  options.max_age = a.link.max_age;
  options.unreachable = *ParseUnreachablePolicy(a.link.unreachable);
  const PveGet get = connection->Get();
  const ListTunnels list = [&]() -> Result<std::string> {
    std::string out;
    HENB_TRY(RunShellCommand(a.list_command, {}, &out, a.command_timeout));
    return out;
  };
  const CutTunnel cut = [&](const Tunnel& t) {
    return RunShellCommand(
        a.cut_command,
        {"HENBTRUST_TUNNEL=" + t.id,
         "HENBTRUST_DEVICE=" + (t.device_id.empty() ? std::string("-") : t.device_id)},
        nullptr, a.command_timeout);
  };
  auto run_round = [&] {
    WatchRound round = RecheckTunnels(get, list, cut, options);
    for (const std::string& line : round.lines) std::cout << line << "\n";
    if (round.cut > 0 || round.failed > 0) {
      std::cout << "round: " << round.tunnels << " tunnels of " << round.devices << " devices; "
                << round.kept << " kept, " << round.cut << " cut, " << round.failed << " failed\n";
    }
    std::cout.flush();
    return round;
  };
  if (a.once) return run_round().failed == 0 ? kExitOk : kExitInvalid;

  BlockStopSignals();
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  std::thread waiter([&] {
    WaitForStopSignal();
    std::lock_guard<std::mutex> lock(mu);
    stop = true;
    cv.notify_all();
  });
  std::cout << "segw-watch: every " << a.interval
            << " s, each tunnel the gateway lists is checked again with the PVE at " << a.link.pve
            << "; a refused device's tunnels are cut\n"
            << std::flush;
  std::unique_lock<std::mutex> lock(mu);
  while (!stop) {
    lock.unlock();
    run_round();
    lock.lock();
    cv.wait_for(lock, std::chrono::seconds(a.interval), [&] { return stop; });
  }
  lock.unlock();
  waiter.join();
  return kExitOk;
}

}  // namespace

void RegisterSegwCommands(CLI::App& app, int* exit_code) {
  auto c = std::make_shared<CheckArgs>();
  CLI::App* check = app.add_subcommand(
      "segw-check",
      "A security gateway's admission question: exits 0 to admit DEVICE_ID, 1 to refuse it "
      "(one line on stdout says why), 2 on a usage or I/O error. The PVE's access decision "
      "reads the device's latest attestation result (status, trustworthiness vector, age) "
      "and whether its release or the device is revoked (docs/segw.md)");
  AddPveLinkOptions(check, c->link, "refuse",
                    "what to do when the PVE cannot be reached or answers 5xx: admit or "
                    "refuse (default refuse); the line says the policy decided",
                    "refuse a device whose latest affirming appraisal is older than this many "
                    "seconds (the PVE's own bound, --result-max-age, applies too)");
  check->add_option("DEVICE_ID", c->device_id, "the device the gateway authenticated")->required();
  check->add_option("--certificate-serial", c->certificate_serial,
                    "the serial (hex) of the certificate the device presented; one that no "
                    "longer speaks for the device is refused");
  OnRun(check, exit_code, [c] { return RunCheck(*c); });

  auto w = std::make_shared<WatchArgs>();
  CLI::App* watch = app.add_subcommand(
      "segw-watch",
      "Enforcement over time: every --interval seconds, lists the gateway's tunnels "
      "(--list-command), asks the PVE again about each device, and cuts (--cut-command) the "
      "tunnels of a device refused now: its release revoked, its appraisal failed, the device "
      "revoked or decommissioned (docs/segw.md)");
  AddPveLinkOptions(watch, w->link, "admit",
                    "what a recheck does when the PVE cannot be reached or answers 5xx: admit "
                    "keeps the tunnels (default; cutting every tunnel in a PVE outage would take "
                    "the fleet off the air), refuse cuts them",
                    "cut the tunnels of a device whose latest affirming appraisal is older than "
                    "this many seconds (the PVE's own bound, --result-max-age, applies too; use "
                    "the hook's MAX_AGE)");
  watch
      ->add_option("--list-command", w->list_command,
                   "shell command printing the gateway's tunnels, one 'TUNNEL-ID DEVICE-ID' per "
                   "line (strongSwan: deploy/strongswan/henbtrust-tunnels list [VICI-URI])")
      ->required();
  watch
      ->add_option("--cut-command", w->cut_command,
                   "shell command that cuts one tunnel, given HENBTRUST_TUNNEL and "
                   "HENBTRUST_DEVICE in its environment (strongSwan: "
                   "deploy/strongswan/henbtrust-tunnels cut [VICI-URI])")
      ->required();
  watch->add_option("--interval", w->interval, "seconds between rechecks (default 30)")
      ->check(CLI::Range(1, 86'400));
  watch
      ->add_option("--command-timeout", w->command_timeout,
                   "seconds a list or cut command may take before it is killed, with what it "
                   "started (default 60)")
      ->check(CLI::Range(1, 3600));
  watch->add_flag("--once", w->once,
                  "one pass, then exit: 0 if nothing failed, 1 otherwise (for cron or a test)");
  OnRun(watch, exit_code, [w] { return RunWatch(*w); });
}

}  // namespace henbtrust::cli
