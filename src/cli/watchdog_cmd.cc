// henbtrust server watchdog: a hardware model's watchdog policy, its ticket
// period and the release its devices are recovered to (docs/recovery.md).
#include <iostream>

#include "cli/commands.h"
#include "henbtrust/net/deferral_ticket.h"
#include "henbtrust/server/server.h"

namespace henbtrust::cli {

namespace {

struct WatchdogArgs {
  std::string dir;
  std::string store;
  std::string model;
  int64_t ticket_period = -1;              // -1: leave as it is
  std::vector<std::string> recovery = {};  // ID VERSION
  bool own_release = false;
};

void Print(const ModelPolicy& p) {
  std::cout << p.hardware_model << ": ticket period "
            << (p.ticket_period == 0 ? std::string("the server's default (--ticket-period)")
                                     : std::to_string(p.ticket_period) + " s")
            << "; recovery to "
            << (p.recovery_release_id.empty() ? std::string("each device's own recorded release")
                                              : p.recovery_release_id + " " + p.recovery_version)
            << "\n";
}

int Run(const WatchdogArgs& a) {
  auto server = OpenOperatorOam(a.dir, a.store);
  if (!server.ok()) return Fail(server.error());
  auto current = server->oam->GetModelPolicy(a.model);
  ModelPolicy policy;
  policy.hardware_model = a.model;
  if (current.ok()) {
    policy = *current;
  } else if (current.error().code() != ErrorCode::kNotFound) {
    return Fail(current.error());
  }
  const bool change = a.ticket_period >= 0 || !a.recovery.empty() || a.own_release;
  if (!change) {
    if (!current.ok()) {
      std::cout << a.model << ": no policy of its own (the server's --ticket-period; recovery to "
                << "each device's own recorded release)\n";
      return kExitOk;
    }
    Print(policy);
    return kExitOk;
  }
  if (a.ticket_period >= 0) policy.ticket_period = a.ticket_period;
  if (!a.recovery.empty()) {
    policy.recovery_release_id = a.recovery[0];
    policy.recovery_version = a.recovery[1];
  }
  if (a.own_release) {
    policy.recovery_release_id.clear();
    policy.recovery_version.clear();
  }
  if (auto st = server->oam->SetModelPolicy(policy, "operator:cli"); !st.ok()) {
    return Fail(st.error());
  }
  Print(policy);
  return kExitOk;
}

}  // namespace

void RegisterWatchdogCommands(CLI::App& server, int* exit_code) {
  auto a = std::make_shared<WatchdogArgs>();
  CLI::App* cmd = server.add_subcommand(
      "watchdog",
      "A hardware model's watchdog policy: ticket period and recovery release (audited); "
      "without a change, shows it");
  cmd->add_option("--dir", a->dir, "server directory")->required();
  cmd->add_option("--store", a->store, "sqlite:PATH or postgres:CONNINFO");
  cmd->add_option("--model", a->model, "the hardware model")->required();
  cmd->add_option("--ticket-period", a->ticket_period,
                  "seconds a ticket holds off the watchdog (0: the server's --ticket-period)")
      ->check(CLI::Range(int64_t{0}, kMaxTicketPeriodSeconds));
  auto* recovery = cmd->add_option("--recovery-release", a->recovery,
                                   "ID VERSION: the release devices in recovery are recovered to")
                       ->expected(2);
  cmd->add_flag("--own-release", a->own_release,
                "recover each device to its own recorded release (the default)")
      ->excludes(recovery);
  OnRun(cmd, exit_code, [a] { return Run(*a); });
}

}  // namespace henbtrust::cli
