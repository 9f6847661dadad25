// henbtrust segw-check | segw-watch: a security gateway's admission control
// through the PVE's access decision (docs/segw.md).
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/commands.h"
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
                       const std::string& unreachable_help) {
  a.unreachable = unreachable_default;
  sub->add_option("--pve", a.pve, "the PVE (or henbtrust server), HOST:PORT")->required();
  sub->add_option("--ca", a.ca, "the server CA (ca.pem of server/pve init)")->required();
  sub->add_option("--cert", a.certificate, "the gateway's certificate (segw.pem)")->required();
  sub->add_option("--key", a.key, "the gateway's key (segw.key)")->required();
  sub->add_option("--timeout", a.timeout, "seconds to connect and for each answer (default 5)")
      ->check(CLI::Range(1, 300));
  sub->add_option("--max-age", a.max_age,
                  "refuse a device whose latest affirming appraisal is older than this many "
                  "seconds (the PVE's own bound, --result-max-age, applies too)")
      ->check(CLI::Range(int64_t{1}, int64_t{10} * 365 * 86'400));
  sub->add_option("--unreachable", a.unreachable, unreachable_help)
      ->check(CLI::IsMember({"admit", "refuse"}));
}

// A lazily connected client; a failed connect is tried again on the next GET.
class PveConnection {
 public:
  static Result<PveConnection> Open(const PveLinkArgs& a) {
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
  std::string state_dir;
  std::string tunnel;
};

int RunCheck(const CheckArgs& a) {
  if (a.state_dir.empty() != a.tunnel.empty())
    return UsageError("--state-dir and --tunnel go together");
  if (!a.tunnel.empty() && !IsValidTunnelId(a.tunnel))
    return UsageError("--tunnel '" + a.tunnel + "' is not 1-64 of [A-Za-z0-9._-]");
  auto connection = PveConnection::Open(a.link);
  if (!connection.ok()) return Fail(connection.error());
  AccessQuestion q;
  q.device_id = a.device_id;
  q.max_age = a.link.max_age;
  q.certificate_serial = a.certificate_serial;
  q.unreachable = *ParseUnreachablePolicy(a.link.unreachable);
  auto verdict = CheckAccess(connection->Get(), q);
  if (!verdict.ok()) return Fail(verdict.error());
  if (verdict->admit && !a.tunnel.empty()) {
    // An admitted tunnel that segw-watch does not know of would never be
    // checked again: refuse it rather.
    if (auto st = RecordTunnel(*Env::Default(), a.state_dir, Tunnel{a.tunnel, a.device_id});
        !st.ok()) {
      return Fail(Error(st.error().code(),
                        "admitted, but the tunnel cannot be recorded for "
                        "segw-watch: " +
                            st.error().message()));
    }
  }
  std::cout << verdict->line << "\n";
  return verdict->admit ? kExitOk : kExitInvalid;
}

struct WatchArgs {
  PveLinkArgs link;
  std::string state_dir;
  int interval = 30;
  std::string cut_command = "swanctl --terminate --force --ike-id \"$HENBTRUST_TUNNEL\"";
  bool once = false;
};

// Runs `command` through /bin/sh with the tunnel's id and device in
// HENBTRUST_TUNNEL and HENBTRUST_DEVICE (never spliced into the command).
Status RunCutCommand(const std::string& command, const Tunnel& t) {
  std::vector<std::string> env_text = {"HENBTRUST_TUNNEL=" + t.id,
                                       "HENBTRUST_DEVICE=" + t.device_id};
  size_t inherited = 0;
  while (environ[inherited] != nullptr) ++inherited;
  std::vector<char*> env;
  env.reserve(env_text.size() + inherited + 1);
  for (std::string& e : env_text) env.push_back(e.data());
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view v(*e);
    if (v.starts_with("HENBTRUST_TUNNEL=") || v.starts_with("HENBTRUST_DEVICE=")) continue;
    env.push_back(*e);
  }
  env.push_back(nullptr);
  std::string sh = "/bin/sh";
  std::string dash_c = "-c";
  std::string line = command;
  char* argv[] = {sh.data(), dash_c.data(), line.data(), nullptr};
  pid_t pid = -1;
  if (const int rc = posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, env.data()); rc != 0)
    return Error(ErrorCode::kIo, "cannot run the cut command: " + std::string(strerror(rc)));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Error(ErrorCode::kIo, "waitpid: " + std::string(strerror(errno)));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return OkStatus();
  return Error(ErrorCode::kIo,
               "the cut command " + (WIFEXITED(status)
                                         ? "exited " + std::to_string(WEXITSTATUS(status))
                                         : "died of signal " + std::to_string(WTERMSIG(status))));
}

int RunWatch(const WatchArgs& a) {
  auto connection = PveConnection::Open(a.link);
  if (!connection.ok()) return Fail(connection.error());
  if (auto st = Env::Default()->CreateDirectories(a.state_dir); !st.ok()) return Fail(st.error());
  WatchOptions options;
  options.state_dir = a.state_dir;
  options.max_age = a.link.max_age;
  options.unreachable = *ParseUnreachablePolicy(a.link.unreachable);
  const PveGet get = connection->Get();
  const CutTunnel cut = [&](const Tunnel& t) { return RunCutCommand(a.cut_command, t); };
  auto run_round = [&] {
    WatchRound round = RecheckTunnels(*Env::Default(), get, cut, options);
    for (const std::string& line : round.lines) std::cout << line << "\n";
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
  std::cout << "segw-watch: every " << a.interval << " s, the tunnels recorded in " << a.state_dir
            << " are checked again with the PVE at " << a.link.pve << "; a refused one is cut\n"
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
                    "refuse (default refuse); the line says the policy decided");
  check->add_option("DEVICE_ID", c->device_id, "the device the gateway authenticated")->required();
  check->add_option("--certificate-serial", c->certificate_serial,
                    "the serial (hex) of the certificate the device presented; one that no "
                    "longer speaks for the device is refused");
  check->add_option("--state-dir", c->state_dir,
                    "with --tunnel: record an admitted tunnel here for segw-watch");
  check->add_option("--tunnel", c->tunnel,
                    "the gateway's id of the tunnel (strongSwan: $PLUTO_UNIQUEID)");
  OnRun(check, exit_code, [c] { return RunCheck(*c); });

  auto w = std::make_shared<WatchArgs>();
  CLI::App* watch = app.add_subcommand(
      "segw-watch",
      "Enforcement over time: every --interval seconds, asks the PVE again about each tunnel "
      "segw-check recorded in --state-dir, and cuts (--cut-command) the tunnel of a device "
      "refused now: its release revoked, its appraisal failed, its certificate revoked. A "
      "tunnel is cut at most --interval seconds plus one answer after the change");
  AddPveLinkOptions(watch, w->link, "admit",
                    "what a recheck does when the PVE cannot be reached or answers 5xx: admit "
                    "keeps the tunnel (default; cutting every tunnel in a PVE outage would take "
                    "the fleet off the air), refuse cuts it");
  watch->add_option("--state-dir", w->state_dir, "where segw-check records admitted tunnels")
      ->required();
  watch->add_option("--interval", w->interval, "seconds between rechecks (default 30)")
      ->check(CLI::Range(1, 86'400));
  watch->add_option("--cut-command", w->cut_command,
                    "shell command that cuts a tunnel, given HENBTRUST_TUNNEL and "
                    "HENBTRUST_DEVICE in its environment (default: swanctl --terminate --force "
                    "--ike-id \"$HENBTRUST_TUNNEL\")");
  watch->add_flag("--once", w->once,
                  "one pass, then exit: 0 if nothing failed, 1 otherwise (for cron or a test)");
  OnRun(watch, exit_code, [w] { return RunWatch(*w); });
}

}  // namespace henbtrust::cli
