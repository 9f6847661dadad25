// henbtrust segw-check | segw-watch: a security gateway's admission control
// through the PVE's access decision (docs/segw.md).
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
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

// A list command's output may be this long (a gateway of 100,000 tunnels
// at about 40 bytes a line takes 4 MB).
constexpr size_t kMaxListBytes = size_t{64} << 20;
// Runs `command` through /bin/sh with `extra_env` added to this process's
// environment and default signal handling; with `out`, its stdout is
// captured there (at most kMaxListBytes). Fails unless it exits 0 within
// `seconds`; then it is killed, with what it started.
Status RunShell(const std::string& command, const std::vector<std::string>& extra_env,
                std::string* out, int seconds) {
  std::vector<std::string> env_text = extra_env;
  std::vector<char*> env;
  size_t inherited = 0;
  while (environ[inherited] != nullptr) ++inherited;
  env.reserve(env_text.size() + inherited + 1);
  for (std::string& e : env_text) env.push_back(e.data());
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view v(*e);
    const bool replaced = std::ranges::any_of(extra_env, [&](const std::string& x) {
      return v.starts_with(std::string_view(x).substr(0, x.find('=') + 1));
    });
    if (!replaced) env.push_back(*e);
  }
  env.push_back(nullptr);

  int pipe_fds[2] = {-1, -1};
  if (out != nullptr && ::pipe2(pipe_fds, O_CLOEXEC) != 0)
    return Error(ErrorCode::kIo, "pipe: " + std::string(strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (out != nullptr) posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  // Nothing of ours but stdin, stdout and stderr: not the PVE's socket.
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  // Its own process group, so that a timeout kills the shell and what it
  // started; default handling of the signals a service blocks or ignores.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigset_t defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGINT, SIGTERM, SIGPIPE, SIGHUP}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
  std::string sh = "/bin/sh";
  std::string dash_c = "-c";
  std::string line = command;
  char* argv[] = {sh.data(), dash_c.data(), line.data(), nullptr};
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, env.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (out != nullptr) ::close(pipe_fds[1]);
  if (rc != 0) {
    if (out != nullptr) ::close(pipe_fds[0]);
    return Error(ErrorCode::kIo, "cannot run '" + command + "': " + std::string(strerror(rc)));
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  bool killed = false;
  const auto kill_group = [&] {
    if (!killed) ::kill(-pid, SIGKILL);
    killed = true;
  };
  std::string read_error;
  if (out != nullptr) {
    out->clear();
    char buffer[1 << 14];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        kill_group();
        break;
      }
      pollfd p{pipe_fds[0], POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) {
        read_error = "poll: " + std::string(strerror(errno));
        break;
      }
      if (ready == 0) continue;  // the deadline, checked above
      const ssize_t n = ::read(pipe_fds[0], buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        read_error = "read: " + std::string(strerror(errno));
        break;
      }
      if (n == 0) break;
      out->append(buffer, static_cast<size_t>(n));
      if (out->size() > kMaxListBytes) {
        read_error = "more than " + std::to_string(kMaxListBytes) + " bytes of output";
        break;
      }
    }
    ::close(pipe_fds[0]);
    if (!read_error.empty()) kill_group();
  }
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno == EINTR) continue;
    if (done < 0) return Error(ErrorCode::kIo, "waitpid: " + std::string(strerror(errno)));
    if (std::chrono::steady_clock::now() > deadline) kill_group();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!read_error.empty()) {
    return Error(ErrorCode::kIo, "'" + command + "': " + read_error + "; killed");
  }
  if (killed) {
    return Error(ErrorCode::kIo,
                 "'" + command + "' took longer than " + std::to_string(seconds) + " s; killed");
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return OkStatus();
  return Error(ErrorCode::kIo,
               "'" + command + "' " +
                   (WIFEXITED(status) ? "exited " + std::to_string(WEXITSTATUS(status))
                                      : "died of signal " + std::to_string(WTERMSIG(status))));
}

int RunWatch(const WatchArgs& a) {
  auto connection = PveConnection::Open(a.link);
  if (!connection.ok()) return Fail(connection.error());
  WatchOptions options;
  options.max_age = a.link.max_age;
  options.unreachable = *ParseUnreachablePolicy(a.link.unreachable);
  const PveGet get = connection->Get();
  const ListTunnels list = [&]() -> Result<std::string> {
    std::string out;
    HENB_TRY(RunShell(a.list_command, {}, &out, a.command_timeout));
    return out;
  };
  const CutTunnel cut = [&](const Tunnel& t) {
    return RunShell(a.cut_command,
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
