// henbtrust server decommission: takes a device out of service for good
// (docs/pve.md, "Certificate renewal and decommissioning"), on the store
// the servers share; they refuse its certificate at the TLS handshake once
// they next read their refused certificates (every 5 s), and the PVE and
// the OAM refuse its requests at once.
#include <iostream>

#include "cli/commands.h"
#include "henbtrust/core/file.h"
#include "henbtrust/pve/decommission.h"
#include "henbtrust/server/server.h"

namespace henbtrust::cli {

namespace {

struct DecommissionArgs {
  std::string dir;
  std::string store;
  std::string device_id;
  std::string reason;
};

int RunDecommission(const DecommissionArgs& a) {
  auto store = OpenStore(ServerStoreLocation(a.dir, a.store));
  if (!store.ok()) return Fail(store.error());
  auto serial = DecommissionDevice(**store, {a.device_id, a.reason, "operator:cli", UnixSeconds()});
  if (!serial.ok()) return Fail(serial.error());
  std::cout << "decommissioned " << a.device_id;
  if (!serial->empty()) std::cout << ": certificate " << *serial << " refused";
  std::cout << "; the PVE and the OAM refuse its requests now, and the servers its TLS "
               "handshake within 5 s\n";
  return kExitOk;
}

}  // namespace

void RegisterDecommissionCommands(CLI::App& server, int* exit_code) {
  auto a = std::make_shared<DecommissionArgs>();
  CLI::App* decommission = server.add_subcommand(
      "decommission",
      "Take a device out of service for good (audited): its certificate is refused at the TLS "
      "handshake and by the PVE and the OAM, and it may neither renew nor enroll again");
  decommission->add_option("--dir", a->dir, "server directory")->required();
  decommission->add_option("--store", a->store, "sqlite:PATH or postgres:CONNINFO");
  decommission->add_option("--device", a->device_id, "the device's id")->required();
  decommission->add_option("--reason", a->reason, "why, for the audit log");
  OnRun(decommission, exit_code, [a] { return RunDecommission(*a); });
}

}  // namespace henbtrust::cli
