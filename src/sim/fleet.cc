#include "henbtrust/sim/fleet.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "henbtrust/agent/agent.h"
#include "henbtrust/agent/credential_store.h"
#include "henbtrust/agent/update_agent.h"
#include "henbtrust/agent/watchdog_agent.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/sim/compromise.h"
#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"
#include "sim/memory_env.h"
#include "sim/unsynced_env.h"

namespace henbtrust {

namespace {

using SteadyClock = std::chrono::steady_clock;

struct SimDevice {
  std::string id;
  std::unique_ptr<Device> device;
  DeviceCredentials creds;
  UpdateAgentConfig config;
  size_t server = 0;  // which of the factory's servers it talks to
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<HttpClient> pve_client;  // when the PVE is not the server
  std::unique_ptr<InjectedFaults> faults = std::make_unique<InjectedFaults>();
  std::unique_ptr<UpdateAgent> agent;
  std::unique_ptr<WatchdogAgent> watchdog;
  bool hostile = false;  // the OS ignores everything (FleetOptions::compromise)
};

// What every device is made from: the files of FleetOptions, read and checked.
struct Factory {
  std::string ca_pem;
  PublicKey order_key;
  Certificate mfr;
  PrivateKey mfr_key;
  TrustRoot root;
  ReleaseManifest release;
  std::vector<std::pair<std::string, uint16_t>> servers;
  std::pair<std::string, uint16_t> pve;
  int64_t ticket_period = 0;  // FleetOptions::ticket_period
  // Every device's clients share one TLS context that trusts the server;
  // each brings only its own certificate and key.
  std::shared_ptr<ClientTlsContext> tls = nullptr;
};

Result<TrustRoot> ReadTrustRoot(const std::string& path) {
  HENB_ASSIGN_OR_RETURN(Bytes raw, ReadFile(path, 1 << 20));
  auto root = TrustRoot::ParseSelfSigned(raw);
  if (!root.ok()) return root.error().WithContext(path);
  return root;
}

template <typename T>
Result<T> InContext(Result<T> r, const std::string& context) {
  if (!r.ok()) return r.error().WithContext(context);
  return r;
}

Result<Factory> OpenFactory(const FleetOptions& o) {
  HENB_ASSIGN_OR_RETURN(std::string ca_pem, ReadTextFile(o.ca));
  HENB_ASSIGN_OR_RETURN(std::string oam_pem, ReadTextFile(o.oam_key));
  HENB_ASSIGN_OR_RETURN(std::string mfr_pem, ReadTextFile(o.manufacturer_ca));
  HENB_ASSIGN_OR_RETURN(std::string mfr_key_pem, ReadTextFile(o.manufacturer_key));
  if (o.servers.empty()) return Error(ErrorCode::kInvalidArgument, "no server for the fleet");
  std::vector<std::pair<std::string, uint16_t>> servers;
  for (const auto& s : o.servers) {
    HENB_ASSIGN_OR_RETURN(auto hp, ParseHostPort(s));
    servers.push_back(std::move(hp));
  }
  HENB_ASSIGN_OR_RETURN(auto pve, ParseHostPort(o.pve.empty() ? o.servers.front() : o.pve));
  HENB_ASSIGN_OR_RETURN(PublicKey order_key, InContext(PublicKey::FromPem(oam_pem), o.oam_key));
  HENB_ASSIGN_OR_RETURN(Certificate mfr,
                        InContext(Certificate::FromPem(mfr_pem), o.manufacturer_ca));
  HENB_ASSIGN_OR_RETURN(PrivateKey mfr_key,
                        InContext(PrivateKey::FromPem(mfr_key_pem), o.manufacturer_key));
  HENB_ASSIGN_OR_RETURN(TrustRoot root, ReadTrustRoot(o.trust_root));
  HENB_ASSIGN_OR_RETURN(BundleHeader header, ReadBundleHeader(o.bundle));
  if (header.manifest.hardware_models.empty()) {
    return Error(ErrorCode::kMalformed, o.bundle + " names no hardware model");
  }
  HENB_ASSIGN_OR_RETURN(auto tls, InContext(ClientTlsContext::Create(ca_pem), o.ca));
  return Factory{std::move(ca_pem),  std::move(order_key), std::move(mfr),
                 std::move(mfr_key), std::move(root),      std::move(header.manifest),
                 std::move(servers), std::move(pve),       o.ticket_period,
                 std::move(tls)};
}

// A client for the device's current server and an agent over it. The
// agent keeps nothing between polls that its device's files do not; on
// failure the device keeps the agent it had.
Status ConnectAgent(const Factory& f, SimDevice& d) {
  const auto& [host, port] = f.servers[d.server];
  HENB_ASSIGN_OR_RETURN(auto client, HttpClient::Connect(host, port, f.tls, DeviceTls(d.creds)));
  // The agents hold the client they were made with: they go first.
  d.watchdog.reset();
  d.agent.reset();
  d.client = std::move(client);
  HttpClient& pve = d.pve_client ? *d.pve_client : *d.client;
  d.agent = std::make_unique<UpdateAgent>(*d.client, pve, *d.device, f.order_key, d.config);
  // The recovery image speaks with its own identity (docs/recovery.md).
  RecoveryEndpoint recovery{host, port, f.ca_pem, f.order_key, d.config};
  recovery.config.hooks = nullptr;
  // Minimal mode retries the OAM at a pace set by the ticket period.
  const WatchdogRetry retry{std::clamp<int64_t>(f.ticket_period / 4, 1, 30),
                            std::clamp<int64_t>(f.ticket_period, 2, 300)};
  d.watchdog =
      std::make_unique<WatchdogAgent>(*d.client, pve, *d.device, std::move(recovery), d.id, retry);
  return OkStatus();
}

// Provisions device `id` on the factory release, has the factory certify its
// EK, enrolls it and gives it an agent.
Result<SimDevice> MakeDevice(const FleetOptions& o, const Factory& f, Env* files,
                             const std::string& id, size_t index,
                             const std::set<std::string>& tamper,
                             const std::set<std::string>& implant,
                             const std::set<std::string>& lie) {
  SimDevice d;
  d.id = id;
  const std::string dir = o.dir + "/" + id;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  const std::string model = f.release.hardware_models.front();
  HENB_ASSIGN_OR_RETURN(SoftTre tre, SoftTre::Create());
  DeviceOptions options;
  options.boot_stage = {f.order_key.ToPem(), o.ticket_period};
  options.env = files;
  auto device = Device::Provision(dir, model, o.bundle, f.root, UnixSeconds(),
                                  std::make_unique<SoftTre>(std::move(tre)), options);
  if (!device.ok()) return device.error().WithContext(id);
  d.device = std::move(device).value();
  if (auto boot = d.device->Boot(); !boot.ok()) return boot.error().WithContext(id);
  HENB_ASSIGN_OR_RETURN(auto ek, ParseTpmPublic(d.device->tre().EkPublic()));
  HENB_ASSIGN_OR_RETURN(Certificate ek_cert,
                        IssueEkCertificate(ek.key, f.mfr_key, f.mfr, id + " EK"));
  EnrollmentRequest req{id, model, f.release.release_id, f.release.version, ek_cert.ToDer(), ""};
  auto creds = EnrollDevice(f.pve.first, f.pve.second, f.ca_pem, *d.device, req);
  if (!creds.ok()) return creds.error().WithContext("enrollment of " + id);
  if (!creds->recovery_problem.empty()) {
    return Error(ErrorCode::kDeviceState,
                 "enrollment of " + id + ": the recovery certificate: " + creds->recovery_problem);
  }
  d.creds = std::move(creds).value();
  if (o.keep_credentials) HENB_TRY(StoreCredentials(Env::Default(), dir, d.creds));
  if (!o.pve.empty()) {
    HENB_ASSIGN_OR_RETURN(
        d.pve_client, HttpClient::Connect(f.pve.first, f.pve.second, f.tls, DeviceTls(d.creds)));
  }
  d.config.device_id = id;
  d.config.trust = &f.root;
  d.config.download_dir = dir + "/downloads";
  d.faults->corrupt_next_download = tamper.contains(id);
  d.faults->implant_after_install = implant.contains(id) || lie.contains(id);
  d.faults->lie_in_next_report = lie.contains(id);
  d.config.hooks = d.faults.get();
  d.server = index % f.servers.size();
  HENB_TRY(ConnectAgent(f, d));
  return d;
}

// The device's OS is taken over (sim/compromise.h) and ignores every
// command from now on.
Status Compromise(SimDevice& d) {
  if (auto st = ImplantActiveSlot(*d.device); !st.ok()) return st.error().WithContext(d.id);
  d.hostile = true;
  return OkStatus();
}

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

int OpenConnections(const SimDevice& d) {
  return (d.client && d.client->connected() ? 1 : 0) +
         (d.pve_client && d.pve_client->connected() ? 1 : 0);
}

void Disconnect(SimDevice& d) {
  if (d.client) d.client->Disconnect();
  if (d.pve_client) d.pve_client->Disconnect();
}

// What the devices of one thread did in a round.
struct Tally {
  bool busy = false;
  int polls = 0;
  int errors = 0;
  int failovers = 0;
  std::map<std::string, int> actions;
};

// One device's turn in a round: its watchdog (the hardware's, whatever the
// OS does), its boot stage's round, and, in normal mode, one poll of the
// OAM by its agent.
void Turn(const Factory& factory, SimDevice& d, Tally& t,
          const std::function<void(const std::string&, const std::string&)>& report) {
  auto fired = d.device->Watchdog();
  if (!fired.ok()) {
    ++t.errors;
    report(d.id, "watchdog: " + fired.error().ToString());
    return;
  }
  if (*fired) {
    report(d.id, "watchdog reset into the recovery image (" +
                     d.device->boot_stage()->state().reason + ")");
  }
  const bool recovering = d.device->mode() == DeviceMode::kRecovery;
  if (d.hostile && !recovering) return;  // a hostile OS ignores everything
  auto w = d.watchdog->Round();
  if (!w.ok()) {
    ++t.errors;
    report(d.id, "watchdog: " + w.error().ToString());
  } else if (!w->empty() && (recovering || w->rfind("ticket: deferred", 0) != 0)) {
    report(d.id, *w);
  }
  if (d.device->mode() != DeviceMode::kNormal) {
    t.busy = true;  // in recovery or minimal mode: not done
    return;
  }
  if (recovering) {
    d.hostile = false;  // recovered: whatever ran before is gone
    t.busy = true;
    return;
  }
  auto r = d.agent->PollOnce();
  ++t.polls;
  if (!r.ok()) {
    ++t.errors;
    report(d.id, r.error().ToString());
    t.busy = true;
    // A server that cannot be reached (stopped, killed): the next one.
    const ErrorCode code = r.error().code();
    if (factory.servers.size() > 1 && (code == ErrorCode::kNet || code == ErrorCode::kNetTimeout)) {
      d.server = (d.server + 1) % factory.servers.size();
      ++t.failovers;
      if (auto st = ConnectAgent(factory, d); !st.ok()) report(d.id, st.error().ToString());
    }
    return;
  }
  ++t.actions[std::string(AgentActionName(r->action))];
  if (r->action == AgentAction::kNone) return;
  t.busy = true;
  if (r->action != AgentAction::kWait && r->action != AgentAction::kAttest) {
    report(d.id, r->ToString());
  }
}

}  // namespace

double FleetResult::EnrollmentsPerSecond() const {
  return enroll_seconds > 0 ? devices / enroll_seconds : 0;
}

double FleetResult::PollsPerSecond() const { return run_seconds > 0 ? polls / run_seconds : 0; }

Result<FleetResult> RunFleet(const FleetOptions& o) {
  HENB_ASSIGN_OR_RETURN(Factory factory, OpenFactory(o));
  const std::set<std::string> tamper(o.tamper.begin(), o.tamper.end());
  const std::set<std::string> implant(o.implant.begin(), o.implant.end());
  const std::set<std::string> lie(o.lie.begin(), o.lie.end());

  // The devices' files need not survive a power loss of this machine: on
  // its disk unsynced, or in memory (FleetOptions::files_in_memory).
  sim::MemoryEnv memory(sim::UnsyncedEnv());
  if (o.files_in_memory) memory.AddRoot(o.dir);
  Env* const files = o.files_in_memory ? static_cast<Env*>(&memory) : sim::UnsyncedEnv();
  FleetResult result;
  // Connections the devices' clients hold open (FleetOptions::max_connections).
  std::atomic<int> open_connections{0};
  const auto enroll_start = SteadyClock::now();
  std::vector<SimDevice> fleet;
  for (int i = 1; i <= o.count; ++i) {
    char id[64];
    std::snprintf(id, sizeof id, "%s-%04d", o.prefix.c_str(), i);
    HENB_ASSIGN_OR_RETURN(SimDevice d, MakeDevice(o, factory, files, id, static_cast<size_t>(i - 1),
                                                  tamper, implant, lie));
    open_connections += OpenConnections(d);
    if (open_connections > o.max_connections) {
      open_connections -= OpenConnections(d);
      Disconnect(d);
    }
    fleet.push_back(std::move(d));
  }
  result.devices = static_cast<int>(fleet.size());
  result.enroll_seconds = Seconds(SteadyClock::now() - enroll_start);
  for (const auto& id : o.compromise) {
    auto it =
        std::find_if(fleet.begin(), fleet.end(), [&](const SimDevice& d) { return d.id == id; });
    if (it == fleet.end())
      return Error(ErrorCode::kInvalidArgument, "no device " + id + " to compromise");
    HENB_TRY(Compromise(*it));
    ++result.compromised;
  }
  if (o.on_enrolled) {
    o.on_enrolled({result.devices, factory.release.version, factory.mfr.SubjectField("CN")});
  }

  // Poll until every device has had work and then a whole round is idle.
  // Each round hands the devices out to the fleet's threads; a device's
  // turn is one thread's at a time.
  std::mutex report_mu;
  const std::function<void(const std::string&, const std::string&)> report =
      [&](const std::string& device, const std::string& what) {
        if (!o.on_action) return;
        const std::lock_guard<std::mutex> lock(report_mu);
        o.on_action(device, what);
      };
  const auto run_start = SteadyClock::now();
  const auto deadline = run_start + o.timeout;
  bool worked = false;
  auto last_busy = SteadyClock::now();
  const int threads = std::clamp(o.threads, 1, std::max(1, result.devices));
  for (;;) {
    ++result.rounds;
    std::atomic<size_t> next{0};
    std::vector<Tally> tallies(static_cast<size_t>(threads));
    auto work = [&](Tally& tally) {
      for (size_t i = next++; i < fleet.size(); i = next++) {
        SimDevice& d = fleet[i];
        const int before = OpenConnections(d);
        Turn(factory, d, tally, report);
        const int now = OpenConnections(d);
        // Over the bound: the device that just had its turn waits longest
        // for its next, so its connections are the ones to close.
        if (open_connections.fetch_add(now - before) + (now - before) > o.max_connections) {
          Disconnect(d);
          open_connections -= now;
        }
      }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; ++t)
      pool.emplace_back(work, std::ref(tallies[static_cast<size_t>(t)]));
    work(tallies[0]);
    for (auto& t : pool) t.join();
    bool busy = false;
    for (const Tally& t : tallies) {
      busy = busy || t.busy;
      result.polls += t.polls;
      result.errors += t.errors;
      result.failovers += t.failovers;
      for (const auto& [action, n] : t.actions) result.actions[action] += n;
    }
    // A compromised device still out there keeps the run going: its
    // watchdog has not fired yet.
    for (const auto& d : fleet) busy = busy || d.hostile;
    worked = worked || busy;
    if (busy) last_busy = SteadyClock::now();
    if (worked && !busy && SteadyClock::now() - last_busy >= o.idle_for) {
      result.idle = true;
      break;
    }
    if (SteadyClock::now() > deadline) break;
    std::this_thread::sleep_for(o.interval);
  }
  result.run_seconds = Seconds(SteadyClock::now() - run_start);
  const std::set<std::string> compromised(o.compromise.begin(), o.compromise.end());
  for (auto& d : fleet) {
    auto m = d.device->SlotManifest(d.device->boot_control().active);
    ++result.running[m ? m->version : "?"];
    if (!d.device->boot_control().last_fallback_reason.empty()) ++result.fell_back;
    ++result.modes[std::string(DeviceModeName(d.device->mode()))];
    const int resets = static_cast<int>(d.device->boot_stage()->state().resets);
    result.max_resets = std::max(result.max_resets, resets);
    if (compromised.contains(d.id)) {
      if (!d.hostile && d.device->mode() == DeviceMode::kNormal) ++result.recovered;
    } else {
      result.healthy_resets += resets;
    }
  }
  return result;
}

}  // namespace henbtrust
