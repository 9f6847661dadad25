// henbtrust server: the OAM and the PVE in one process over one embedded
// SQLite file (or PostgreSQL): the zero-set-up way to run the system.
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "henbtrust/core/file.h"
#include "henbtrust/net/deferral_ticket.h"
#include "henbtrust/server/server.h"

namespace henbtrust::cli {

Result<OperatorOam> OpenOperatorOam(const std::string& dir, const std::string& store) {
  HENB_ASSIGN_OR_RETURN(OamConfig config, LoadOamConfig(dir));
  OperatorOam out;
  HENB_ASSIGN_OR_RETURN(out.store, OpenStore(ServerStoreLocation(dir, store)));
  PveLink no_pve = [](const std::string&, const std::string&,
                      const std::string&) -> Result<HttpResponse> {
    return Error(ErrorCode::kNet, "no PVE in an operator command");
  };
  out.oam = std::make_unique<OamService>(*out.store, std::move(no_pve), std::move(config));
  return out;
}

namespace {

int RunInit(const std::string& dir, const std::vector<std::string>& hosts) {
  if (auto st = InitServerDirectory(dir, hosts); !st.ok()) return Fail(st.error());
  std::cout
      << "server directory " << dir << " created:\n"
      << "  ca.pem                    the server CA: devices and operators trust it for the "
         "server\n"
      << "  client-ca.pem, .key       the client CA: device certificates and role identities\n"
      << "  oam.pub                   verifies deployment orders (give it to devices)\n"
      << "  audit.pub                 verifies the audit log's signed checkpoints\n"
      << "  operator.pem, .key        the operator's client identity\n"
      << "  segw.pem, .key            the security gateway's identity (docs/segw.md)\n"
      << "  oam.key, ear.key, ...     signing keys; keep them here\n"
      << "Next: henbtrust server import-release --dir " << dir
      << " --trust-root ROOT BUNDLE, then henbtrust server run --dir " << dir
      << " --manufacturer-ca CA.pem\n";
  return kExitOk;
}

struct RunArgs {
  std::string dir, store, listen = "127.0.0.1:8443", port_file;
  std::string pve;  // host:port of a separate PVE (henbtrust oam serve)
  std::vector<std::string> manufacturer_cas;
  int threads = 4;
  int64_t order_ttl = 900;
  std::string instance;  // empty: host/pid/random
  int64_t lease = 30;
  int64_t ticket_period = 86400;
};

// The options `server run` and `oam serve` share.
void AddServiceOptions(CLI::App& cmd, RunArgs& a) {
  cmd.add_option("--store", a.store,
                 "sqlite:PATH or postgres:CONNINFO (default: sqlite:DIR/henbtrust.db)");
  cmd.add_option("--listen", a.listen, "address:port (port 0: any free port)")
      ->capture_default_str();
  cmd.add_option("--port-file", a.port_file, "write the port listened on to this file");
  cmd.add_option("--threads", a.threads, "server threads")->capture_default_str();
  cmd.add_option("--order-ttl", a.order_ttl, "seconds a device has to act on an instruction")
      ->capture_default_str();
  cmd.add_option("--instance", a.instance,
                 "this OAM's name among those sharing the store (default: HOST/PID/RANDOM)");
  cmd.add_option("--lease", a.lease,
                 "seconds this OAM holds the jobs and campaigns it drives; another instance "
                 "takes over one whose lease ran out")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{3600}));
  cmd.add_option("--ticket-period", a.ticket_period,
                 "seconds a deferral ticket holds off a device's watchdog, for hardware models "
                 "without their own (henbtrust server watchdog); docs/recovery.md")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, kMaxTicketPeriodSeconds));
}

int RunServer(const RunArgs& a) {
  auto options = LoadServerDirectory(a.dir);
  if (!options.ok()) return Fail(options.error());
  options->oam.order_ttl = a.order_ttl;
  options->oam.instance_id = a.instance;
  options->oam.lease = a.lease;
  options->oam.ticket_period = a.ticket_period;
  options->store = ServerStoreLocation(a.dir, a.store);
  options->threads = a.threads;
  auto cas = LoadCertificates(a.manufacturer_cas);
  if (!cas.ok()) return Fail(cas.error());
  options->pve.manufacturer_cas = std::move(cas).value();
  if (options->pve.manufacturer_cas.empty() && a.pve.empty()) {
    std::cerr << "warning: no --manufacturer-ca: every enrollment will be refused\n";
  }
  auto endpoint = ParseHostPort(a.listen);
  if (!endpoint.ok()) return Fail(endpoint.error());
  options->address = endpoint->first;
  options->port = endpoint->second;
  if (!a.pve.empty()) {
    // henbtrust oam serve: the PVE is another process.
    if (auto hp = ParseHostPort(a.pve); !hp.ok()) return Fail(hp.error());
    auto tls = LoadOperatorTls(a.dir);
    if (!tls.ok()) return Fail(tls.error());
    options->remote_pve = a.pve;
    options->remote_pve_tls = std::move(tls).value();
  }
  auto anchor = OpenServiceAuditAnchor(a.dir, "henbtrust server");
  if (!anchor.ok()) return Fail(anchor.error());
  std::string anchor_error;  // the driver thread's, then this one's after it ended
  options->after_drive = [&](Store& store) {
    AdvanceAuditAnchor(*anchor, store, "henbtrust server", anchor_error);
  };

  BlockStopSignals();
  auto server = Server::Open(std::move(options).value());
  if (!server.ok()) return Fail(server.error());
  if (auto st = (*server)->Start(); !st.ok()) return Fail(st.error());
  if (auto st = WritePortFile(a.port_file, (*server)->port()); !st.ok()) return Fail(st.error());
  std::cerr << "henbtrust: " << (a.pve.empty() ? "OAM and PVE" : "OAM (PVE at " + a.pve + ")")
            << " on https://" << endpoint->first << ":" << (*server)->port() << ", store "
            << (*server)->store().Backend() << ", instance " << (*server)->oam().InstanceId()
            << "; SIGINT or SIGTERM stops\n";
  const int sig = WaitForStopSignal();
  std::cerr << "henbtrust server: signal " << sig << ", finishing requests in flight\n";
  (*server)->Stop();
  AdvanceAuditAnchor(*anchor, (*server)->store(), "henbtrust server", anchor_error);
  return kExitOk;
}

int RunImport(const std::string& dir, const std::string& store_location,
              const std::string& trust_path, const std::vector<std::string>& bundles) {
  auto root = LoadTrustRoot(trust_path);
  if (!root.ok()) return Fail(root.error());
  auto server = OpenOperatorOam(dir, store_location);
  if (!server.ok()) return Fail(server.error());
  for (const auto& path : bundles) {
    auto imported = server->oam->ImportRelease(path, *root, "operator:cli");
    if (!imported.ok()) {
      std::cerr << "invalid: " << path << ": " << imported.error().ToString() << "\n";
      return imported.error().exit_code();
    }
    std::cout << "imported " << *imported << " into the catalogue\n";
  }
  return kExitOk;
}

int RunInventory(const std::string& dir, const std::string& store_location, bool json) {
  auto store = OpenStore(ServerStoreLocation(dir, store_location));
  if (!store.ok()) return Fail(store.error());
  if (!json) {
    std::printf("%-16s %-10s %-22s %-10s %-8s %-16s %-20s %s\n", "device", "model",
                "reference configuration", "state", "mode", "appraisal", "watchdog deadline",
                "open job");
  }
  nlohmann::json list = nlohmann::json::array();
  std::string after;
  int n = 0;
  for (;;) {
    auto page = (*store)->ListDevices(after, 1000);
    if (!page.ok()) return Fail(page.error());
    if (page->empty()) break;
    for (const auto& d : *page) {
      auto job = (*store)->OpenJobFor(d.device_id);
      if (!job.ok()) return Fail(job.error());
      auto watchdog = (*store)->GetWatchdog(d.device_id);
      if (!watchdog.ok()) return Fail(watchdog.error());
      auto latest = (*store)->LatestAppraisal(d.device_id);
      if (!latest.ok()) return Fail(latest.error());
      const std::string mode = *watchdog ? (**watchdog).mode : "normal";
      const int64_t deadline = *watchdog ? (**watchdog).deadline : 0;
      const std::string status = *latest ? (**latest).status : "none";
      const std::string open = *job ? std::to_string((**job).id) + " " +
                                          std::string(JobStateName((**job).state)) + " -> " +
                                          (**job).version
                                    : "-";
      if (json) {
        list.push_back({{"id", d.device_id},
                        {"hardware_model", d.hardware_model},
                        {"release_id", d.release_id},
                        {"version", d.release_version},
                        {"state", d.state},
                        {"mode", mode},
                        {"status", status},
                        {"watchdog_deadline", deadline},
                        {"last_ticket", *watchdog ? (**watchdog).last_ticket : ""},
                        {"open_job", *job ? nlohmann::json((**job).id) : nlohmann::json()}});
      } else {
        std::printf("%-16s %-10s %-22s %-10s %-8s %-16s %-20s %s\n", d.device_id.c_str(),
                    d.hardware_model.c_str(), (d.release_id + " " + d.release_version).c_str(),
                    d.state.c_str(), mode.c_str(), status.c_str(),
                    deadline == 0 ? "-" : FormatUtc(deadline).c_str(), open.c_str());
      }
      ++n;
    }
    after = page->back().device_id;
  }
  if (json) {
    std::cout << nlohmann::json{{"devices", std::move(list)}}.dump(2) << "\n";
  } else {
    std::cout << n << " devices\n";
  }
  return kExitOk;
}

int RunStatus(const std::string& dir, const std::string& store_location,
              const std::vector<std::string>& history) {
  auto store = OpenStore(ServerStoreLocation(dir, store_location));
  if (!store.ok()) return Fail(store.error());
  auto jobs = (*store)->ListJobs(false, 0, 1'000'000);
  if (!jobs.ok()) return Fail(jobs.error());
  std::map<std::string, int> by_state;
  std::printf("%-6s %-16s %-9s %-9s %-13s %s\n", "job", "device", "kind", "target", "state",
              "detail");
  for (const auto& j : *jobs) {
    ++by_state[std::string(JobStateName(j.state))];
    std::printf("%-6lld %-16s %-9s %-9s %-13s %s\n", static_cast<long long>(j.id),
                j.device_id.c_str(), std::string(JobKindName(j.kind)).c_str(), j.version.c_str(),
                std::string(JobStateName(j.state)).c_str(), j.detail.c_str());
  }
  std::cout << "jobs:";
  for (const auto& [state, n] : by_state) std::cout << " " << state << "=" << n;
  std::cout << "\n";
  if (!history.empty()) {
    auto audit = (*store)->ListAudit(0, 10'000'000);
    if (!audit.ok()) return Fail(audit.error());
    for (const auto& device : history) {
      for (const auto& j : *jobs) {
        if (j.device_id != device) continue;
        std::cout << "job " << j.id << " (" << device << "), from the audit log:\n";
        for (const auto& e : *audit) {
          if (e.subject != "job:" + std::to_string(j.id)) continue;
          std::string detail = e.detail.substr(e.detail.find(": ") + 2);
          if (detail.size() > 110) detail = detail.substr(0, 107) + "...";
          std::printf("  #%-5lld %-17s %-20s %s\n", static_cast<long long>(e.seq), e.actor.c_str(),
                      e.event.c_str(), detail.c_str());
        }
      }
    }
  }
  // The head as last anchored by a service of this directory, if one has.
  auto checkpoint = LoadAuditCheckpoint(dir + "/audit.anchor");
  if (!checkpoint.ok()) return Fail(checkpoint.error());
  std::optional<PublicKey> audit_key;
  if (*checkpoint) {
    auto pem = ReadTextFile(dir + "/audit.pub");
    if (!pem.ok()) return Fail(pem.error().WithContext("the audit log's checkpoint needs it"));
    auto key = PublicKey::FromPem(*pem);
    if (!key.ok()) return Fail(key.error().WithContext(dir + "/audit.pub"));
    audit_key = std::move(key).value();
  }
  const AuditCheckpoint* anchor = *checkpoint ? &**checkpoint : nullptr;
  auto entries = VerifyAuditChain(**store, anchor, audit_key ? &*audit_key : nullptr);
  if (!entries.ok()) {
    std::cout << "audit log: BROKEN: " << entries.error().message() << "\n";
    return entries.error().exit_code();
  }
  std::cout << "audit log: " << *entries << " entries, hash chain verified";
  if (anchor != nullptr) {
    std::cout << ", anchored at entry " << anchor->seq << " (signed checkpoint of "
              << AuditCheckpointTime(*anchor) << ")\n";
  } else {
    std::cout << "; its head is not anchored (no " << dir
              << "/audit.anchor: a truncated or rewritten log would not be detected)\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterServerCommands(CLI::App& app, int* exit_code) {
  CLI::App* server = app.add_subcommand(
      "server", "OAM and PVE in one process on one store: the zero-set-up deployment");
  server->require_subcommand(1);

  auto init_dir = std::make_shared<std::string>();
  auto hosts = std::make_shared<std::vector<std::string>>();
  CLI::App* init = server->add_subcommand(
      "init", "Create a server directory: CA, TLS and role certificates, OAM and PVE keys");
  init->add_option("--dir", *init_dir, "directory to create")->required();
  init->add_option("--host", *hosts, "name or address the server certificate names (repeatable)")
      ->default_val(std::vector<std::string>{"127.0.0.1", "localhost"});
  OnRun(init, exit_code, [init_dir, hosts] { return RunInit(*init_dir, *hosts); });

  auto a = std::make_shared<RunArgs>();
  CLI::App* run = server->add_subcommand("run", "Serve the OAM and PVE APIs over HTTPS");
  run->add_option("--dir", a->dir, "server directory (henbtrust server init)")->required();
  run->add_option("--manufacturer-ca", a->manufacturer_cas,
                  "PEM file of TPM manufacturer CAs for EK certificates (repeatable)");
  AddServiceOptions(*run, *a);
  OnRun(run, exit_code, [a] { return RunServer(*a); });

  // The OAM alone, beside a PVE elsewhere (henbtrust pve serve on the same
  // directory's CA and the same database, or its own).
  CLI::App* oam =
      app.add_subcommand("oam", "The OAM server alone, with the PVE in another process");
  oam->require_subcommand(1);
  auto o = std::make_shared<RunArgs>();
  CLI::App* serve = oam->add_subcommand("serve", "Serve the OAM API over HTTPS");
  serve->add_option("--dir", o->dir, "server directory (henbtrust server init)")->required();
  serve->add_option("--pve", o->pve, "host:port of the PVE (henbtrust pve serve)")->required();
  AddServiceOptions(*serve, *o);
  OnRun(serve, exit_code, [o] { return RunServer(*o); });

  auto dir = std::make_shared<std::string>();
  auto store = std::make_shared<std::string>();
  auto trust = std::make_shared<std::string>();
  auto bundles = std::make_shared<std::vector<std::string>>();
  CLI::App* import = server->add_subcommand(
      "import-release", "Verify vendor-signed bundles and add them to the release catalogue");
  import->add_option("--dir", *dir, "server directory")->required();
  import->add_option("--store", *store, "sqlite:PATH or postgres:CONNINFO");
  import->add_option("--trust-root", *trust, "the vendor trust root")->required();
  import->add_option("bundles", *bundles, "release bundles")->required();
  OnRun(import, exit_code,
        [dir, store, trust, bundles] { return RunImport(*dir, *store, *trust, *bundles); });

  RegisterJobCommands(*server, exit_code);
  RegisterRevocationCommands(*server, exit_code);
  RegisterGroupCommands(*server, exit_code);
  RegisterWatchdogCommands(*server, exit_code);
  RegisterDecommissionCommands(*server, exit_code);

  CLI::App* inventory = server->add_subcommand(
      "inventory", "Every enrolled device: hardware model, reference configuration, open job");
  inventory->add_option("--dir", *dir, "server directory")->required();
  inventory->add_option("--store", *store, "sqlite:PATH or postgres:CONNINFO");
  auto inventory_json = std::make_shared<bool>(false);
  inventory->add_flag("--json", *inventory_json,
                      "one JSON document: {\"devices\": [{id, release_id, version, mode, "
                      "status, watchdog_deadline, ...}]}");
  OnRun(inventory, exit_code,
        [dir, store, inventory_json] { return RunInventory(*dir, *store, *inventory_json); });

  auto history = std::make_shared<std::vector<std::string>>();
  CLI::App* status =
      server->add_subcommand("status", "Every update job and its state; verifies the audit log");
  status->add_option("--dir", *dir, "server directory")->required();
  status->add_option("--store", *store, "sqlite:PATH or postgres:CONNINFO");
  status->add_option("--history", *history, "also show this device's transitions (repeatable)");
  OnRun(status, exit_code, [dir, store, history] { return RunStatus(*dir, *store, *history); });
}

}  // namespace henbtrust::cli
