// Private to the CLI: subcommand registration and the one way a command fails.
//
// Exit codes (kExitOk, kExitInvalid, kExitUsage in core/result.h): a failing
// command exits with its error's exit code, error_codes.def's last column.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/oam/oam.h"
#include "henbtrust/release/trust.h"
#include "henbtrust/store/audit_anchor.h"
#include "henbtrust/tpm/tre.h"

namespace henbtrust::cli {

// A subcommand's action returns its exit code.
using Action = std::function<int()>;
// Registers `action` to run when `sub` is selected; its code lands in `*exit_code`.
void OnRun(CLI::App* sub, int* exit_code, Action action);

// Prints "error: <code>: <detail>" on stderr; returns e.exit_code().
int Fail(const Error& e);
// Fail(Error(kInvalidArgument, message)): the command was used wrongly.
int UsageError(std::string message);
// The failure of what a verifying command verifies: when e.exit_code() is
// kExitInvalid, one line "invalid: <code>: <detail>" on stdout and
// kExitInvalid; otherwise (the input could not be examined) Fail(e).
int Verdict(const Error& e);

// A device's TrE: a TPM when `tcti` is given, else the soft TrE kept in DIR/tre.state.
Result<std::unique_ptr<Tre>> PowerOnTre(const std::string& dir, const std::string& tcti,
                                        const std::string& swtpm_control);

// Every certificate in the PEM files `paths`.
Result<std::vector<Certificate>> LoadCertificates(const std::vector<std::string>& paths);

// Services: call BlockStopSignals() before starting threads (they inherit
// the mask), then WaitForStopSignal() returns SIGINT or SIGTERM when one comes.
void BlockStopSignals();
int WaitForStopSignal();
// Writes `port` to `path` (a service's --port-file); nothing if `path` is empty.
Status WritePortFile(const std::string& path, uint16_t port);

// A service's audit anchor: DIR/audit.anchor signed with DIR/audit.key. An
// older directory without audit.key gets one, with a note on stderr naming
// `who` (e.g. "henbtrust server").
Result<AuditAnchor> OpenServiceAuditAnchor(const std::string& dir, const std::string& who);
// One anchor.Advance(store). A failure is printed on stderr (once while it
// stays the same; `last_error` keeps it between calls, owned by the caller)
// and the service goes on serving: the log was tampered with when it is
// store.audit-broken or a bad signature, else the store or the file failed.
void AdvanceAuditAnchor(AuditAnchor& anchor, Store& store, const std::string& who,
                        std::string& last_error);

// The OAM of a server directory for an operator command: its configuration
// and store (`store` as --store gives it, "" for the directory's own), on
// which the command works directly; no PVE is reached.
struct OperatorOam {
  std::unique_ptr<Store> store;
  std::unique_ptr<OamService> oam;
};
Result<OperatorOam> OpenOperatorOam(const std::string& dir, const std::string& store);

// Reads a self-signed trust root file.
Result<TrustRoot> LoadTrustRoot(const std::string& path);

void RegisterQuoteCommands(CLI::App& app, int* exit_code);
void RegisterEventLogCommands(CLI::App& app, int* exit_code);
void RegisterTreCommands(CLI::App& app, int* exit_code);
void RegisterReleaseCommands(CLI::App& app, int* exit_code);
void RegisterDeviceCommands(CLI::App& app, int* exit_code);
void RegisterPveCommands(CLI::App& app, int* exit_code);
void RegisterServerCommands(CLI::App& app, int* exit_code);
// `server update`, `server remediate` and `server campaign`, under `server`.
void RegisterJobCommands(CLI::App& server, int* exit_code);
// `server revoke` and `server unrevoke`, under `server`.
void RegisterRevocationCommands(CLI::App& server, int* exit_code);
// henbtrust server group add|remove|list (group_cmd.cc).
void RegisterGroupCommands(CLI::App& server, int* exit_code);
void RegisterWatchdogCommands(CLI::App& server, int* exit_code);
// `server decommission`, under `server`.
void RegisterDecommissionCommands(CLI::App& server, int* exit_code);
void RegisterSimCommands(CLI::App& app, int* exit_code);
// `sim run` (sim_run_cmd.cc), under the `sim` command.
void RegisterSimRunCommand(CLI::App& sim, int* exit_code);
// `sim revalidate` (sim_revalidate_cmd.cc), under the `sim` command.
void RegisterSimRevalidateCommand(CLI::App& sim, int* exit_code);
void RegisterAgentCommands(CLI::App& app, int* exit_code);
// henbtrust segw-check | segw-watch (segw_cmd.cc).
void RegisterSegwCommands(CLI::App& app, int* exit_code);

}  // namespace henbtrust::cli
