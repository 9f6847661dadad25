#include <pthread.h>
#include <signal.h>  // NOLINT(modernize-deprecated-headers): sigset_t, sigwait: POSIX

#include <iostream>

#include "cli/commands.h"
#include "henbtrust/core/file.h"

namespace henbtrust::cli {

void OnRun(CLI::App* sub, int* exit_code, Action action) {
  sub->callback([exit_code, action = std::move(action)] { *exit_code = action(); });
}

int Fail(const Error& e) {
  std::cerr << "error: " << e.ToString() << "\n";
  return e.exit_code();
}

int UsageError(std::string message) {
  return Fail(Error(ErrorCode::kInvalidArgument, std::move(message)));
}

int Verdict(const Error& e) {
  if (e.exit_code() != kExitInvalid) return Fail(e);
  std::cout << "invalid: " << e.ToString() << "\n";
  return kExitInvalid;
}

Result<TrustRoot> LoadTrustRoot(const std::string& path) {
  HENB_ASSIGN_OR_RETURN(Bytes raw, ReadFile(path, 1 << 20));
  auto root = TrustRoot::ParseSelfSigned(raw);
  if (!root.ok()) return root.error().WithContext(path);
  return root;
}

Result<std::vector<Certificate>> LoadCertificates(const std::vector<std::string>& paths) {
  std::vector<Certificate> out;
  for (const auto& path : paths) {
    HENB_ASSIGN_OR_RETURN(std::string pem, ReadTextFile(path));
    auto certs = Certificate::AllFromPem(pem);
    if (!certs.ok()) return certs.error().WithContext(path);
    for (auto& c : *certs) out.push_back(std::move(c));
  }
  return out;
}

void BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int WaitForStopSignal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  int sig = 0;
  sigwait(&signals, &sig);
  return sig;
}

Result<AuditAnchor> OpenServiceAuditAnchor(const std::string& dir, const std::string& who) {
  bool created = false;
  auto anchor = OpenDirectoryAuditAnchor(dir, &created);
  if (!anchor.ok()) {
    return anchor.error().WithContext("audit anchor " + dir +
                                      "/audit.anchor (check the log with henbtrust server status)");
  }
  if (created) {
    std::cerr << who << ": note: " << dir << " had no audit key; created " << dir
              << "/audit.key and audit.pub to sign the audit log's checkpoints\n";
  }
  return anchor;
}

void AdvanceAuditAnchor(AuditAnchor& anchor, Store& store, const std::string& who,
                        std::string& last_error) {
  auto st = anchor.Advance(store);
  if (st.ok()) {
    if (!last_error.empty()) std::cerr << who << ": audit log anchored again\n";
    last_error.clear();
    return;
  }
  const std::string error = st.error().ToString();
  if (error == last_error) return;
  last_error = error;
  const ErrorCode code = st.error().code();
  if (code == ErrorCode::kStoreAuditBroken || code == ErrorCode::kCryptoBadSignature) {
    std::cerr << who << ": AUDIT LOG TAMPERED WITH (its last checkpoint is kept; nothing "
              << "newer is signed): " << error << "\n";
  } else {
    std::cerr << who << ": audit log not anchored: " << error << "\n";
  }
}

Status WritePortFile(const std::string& path, uint16_t port) {
  if (path.empty()) return OkStatus();
  return WriteFileAtomic(path, AsBytes(std::to_string(port) + "\n"));
}

}  // namespace henbtrust::cli

// NOLINTNEXTLINE(bugprone-exception-escape): one escaping a command is a bug; terminate() says so
int main(int argc, char** argv) {
  using namespace henbtrust;
  using namespace henbtrust::cli;
  CLI::App app{
      "henbtrust: integrity-verified software updates and remote recovery for H(e)NB fleets.\n"
      "Exit codes: 0 success or valid, 1 invalid input, 2 usage or I/O error."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "henbtrust 0.1.0");
  // Options of any subcommand from a TOML file, in a section named after it:
  //   [server.run]
  //   dir = "/var/lib/henbtrust"
  //   manufacturer-ca = ["/etc/henbtrust/tpm-vendors.pem"]
  // Flags on the command line win.
  app.set_config("--config", "", "read options from a TOML file, [server.run] etc.");
  int exit_code = kExitOk;
  RegisterQuoteCommands(app, &exit_code);
  RegisterEventLogCommands(app, &exit_code);
  RegisterTreCommands(app, &exit_code);
  RegisterReleaseCommands(app, &exit_code);
  RegisterDeviceCommands(app, &exit_code);
  RegisterPveCommands(app, &exit_code);
  RegisterServerCommands(app, &exit_code);
  RegisterSimCommands(app, &exit_code);
  RegisterAgentCommands(app, &exit_code);
  RegisterSegwCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  return exit_code;
}
