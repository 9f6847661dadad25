// The scenario runner's parts (sim/scenario_run.h), one file each:
//   scenario_run.cc      the fleet, its rounds and the run's loop;
//   scenario_links.cc    how devices reach the services (in this process or
//                        over HTTPS), outages and power cuts on the way;
//   scenario_events.cc   what each scenario event does;
//   scenario_metrics.cc  the samples of the fleet and the run's figures.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "henbtrust/agent/agent.h"
#include "henbtrust/agent/update_agent.h"
#include "henbtrust/agent/watchdog_agent.h"
#include "henbtrust/core/result.h"
#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/http.h"
#include "henbtrust/net/http_channel.h"
#include "henbtrust/server/server.h"
#include "henbtrust/sim/scenario_run.h"
#include "sim/memory_env.h"
#include "sim/sim_vendor.h"
#include "sim/unsynced_env.h"
#include "sim/virtual_env.h"

namespace henbtrust::sim {

// The simulator's hooks into a device's update agent: the faults a scenario
// injects, and the moments just before and just after an install.
class SimHooks final : public UpdateAgentHooks {
 public:
  InjectedFaults faults;
  std::function<void()> before_install = nullptr;
  std::function<void()> after_install = nullptr;

  void Downloaded(Env& env, const std::string& path) override {
    faults.Downloaded(env, path);
    if (before_install) before_install();
  }
  void Installed(Device& device, const std::string& slot) override {
    faults.Installed(device, slot);
    if (after_install) after_install();
  }
  void Reporting(AgentReport& report) override {
    faults.Reporting(report);
    if (after_install) after_install();
  }
};

struct SimHenb {
  std::string id;
  std::unique_ptr<Device> device;
  std::unique_ptr<HttpChannel> channel;  // to the OAM and the PVE, as the device
  HttpClient* https = nullptr;           // under `channel`, over HTTPS
  std::string dir;
  std::unique_ptr<SimHooks> hooks = std::make_unique<SimHooks>();
  bool power_loss_pending = false;  // at its next install
  uint32_t power_cuts_armed = 0;    // so far, for the draw of each one's moment
  UpdateAgentConfig config;
  std::unique_ptr<UpdateAgent> agent;
  std::unique_ptr<WatchdogAgent> watchdog;
  AgentAction last_action = AgentAction::kNone;
  // Its last turn ended with its watchdog fed and a poll that found nothing
  // to do (or it has just enrolled): a condition of dozing.
  bool quiet_turn = false;
  bool hostile = false;         // the OS ignores everything
  int64_t compromised_at = -1;  // fleet time of the compromise, if any
  int64_t detected_at = -1;     // its recovery image reached the OAM
  int64_t recovered_at = -1;    // back in normal service
  bool admitted_while_compromised = false;
  uint32_t resets_seen = 0;
  int64_t last_reset_at = -1;
  bool reset_loop = false;
  // A dormant device (ScenarioRunOptions::dormant): no Device, channel,
  // agents or TrE object, only what Run::Wake makes them again from, its files packed
  // into one compressed object (MemoryEnv::Pack).
  struct Dormant {
    Bytes tre;                                  // SoftTre::SaveState
    std::shared_ptr<const Bytes> tre_volatile;  // SoftTre::SaveVolatile, shared by devices alike
    uint64_t wake_ms = 0;                       // its ticket is due: the run's steady clock
    uint32_t resets = 0;                        // the boot stage's, for the figures
    std::string version;                        // of its active slot
    PackedDir files;                            // taken out of the run's MemoryEnv
  };
  std::optional<Dormant> dormant;
};

class Run {
 public:
  Run(const Scenario& s, const ScenarioRunOptions& o) : s_(s), o_(o) {}
  // The server goes first: over HTTPS its threads call back into the run.
  ~Run() { server_.reset(); }
  Run(const Run&) = delete;
  Run& operator=(const Run&) = delete;

  Result<ScenarioReport> Play();

 private:
  // Seconds of fleet time since the fleet enrolled.
  int64_t FleetTime() { return (env_.SteadyMillis() - start_millis_) / 1000; }
  void Say(const std::string& line) const {
    if (o_.progress) o_.progress(line);
  }
  bool Https() const { return o_.transport == ScenarioTransport::kHttps; }

  // scenario_run.cc
  Status MakeServer();
  Status OpenServer();
  Status CrashServer();
  Status MakeReleases();
  Status MakeFleet();
  Result<SimHenb> MakeHenb(int index, const Certificate& mfr, const PrivateKey& mfr_key);
  void AttachAgents(SimHenb& d);
  Status PowerCycle(SimHenb& d);
  DeviceOptions DeviceOptionsFor();
  void Round(SimHenb& d);
  // A dormant device made whole again (nothing if it is awake).
  Status Wake(SimHenb& d);
  // An awake device with nothing to do made dormant, until its ticket is
  // due (nothing otherwise, or without o_.dormant).
  Status Doze(SimHenb& d);
  // `turn(d)` for every device of the fleet, on turn_threads_ threads; the
  // first failure stops the others at their next device and is returned.
  Status ForEachDevice(const std::function<Status(SimHenb&)>& turn);
  // One device's turn in a round: woken if due, its round, power back if
  // cut, dozing if it may.
  Status Turn(SimHenb& d);
  // Dormant devices with an open job wake at their next turn, as a device
  // would when its management system asks it to connect.
  Status WakeThoseWithJobs();
  // One copy of each TrE volatile state among the dormant devices.
  std::shared_ptr<const Bytes> Intern(Bytes bytes);

  // scenario_links.cc
  // Counts the PVE's appraisals and their CPU, in either transport.
  void CountAppraisals(ServerOptions& options);
  // A channel of `device` with `identity` (its certificate, and over HTTPS
  // its key), behind the runner's gate; `https`, if not null, gets the
  // client underneath over HTTPS.
  Result<std::unique_ptr<HttpChannel>> Connect(const std::string& device, const TlsConfig& identity,
                                               HttpClient** https);
  // In this process: a channel of `device` that presents `peer`, and any
  // channel of its behind the runner's gate.
  std::unique_ptr<HttpChannel> InProcess(const std::string& device, PeerIdentity peer);
  std::unique_ptr<HttpChannel> Gated(const std::string& device, std::unique_ptr<HttpChannel> inner);
  // In this process: the device's identity kept among its files (made at
  // enrollment; read when a dormant device wakes).
  Status KeepIdentity(const SimHenb& d, const PeerIdentity& peer);
  Result<PeerIdentity> KeptIdentity(const SimHenb& d);
  // Enrollment, with no client certificate.
  Result<DeviceCredentials> Enroll(Device& device, const EnrollmentRequest& request);
  Status Gate(const std::string& device, const std::string& target) const;
  Result<HttpResponse> Serve(const HttpRequest& request);
  PveLink WrapLink(PveLink link);
  // Over HTTPS, after a device's turn: it keeps its connection while fewer
  // than max_open_ are kept, else closes it.
  void BoundConnections(SimHenb& d);
  // Connections the services have accepted so far, over every process.
  uint64_t Accepted() const;

  // scenario_events.cc
  std::vector<size_t> Pick(double share);
  Status Apply(const ScenarioEvent& e);
  void ArmPowerLoss(size_t index);

  // scenario_metrics.cc
  Result<bool> Admitted(const SimHenb& d);
  Result<FleetSample> Sample(bool final_sample);
  Result<bool> Settled();
  Status Finish();

  const Scenario& s_;
  const ScenarioRunOptions& o_;
  ScenarioReport r_;
  // The devices' files, in memory (under dir_/devices), and the rest on
  // disk unsynced; env_ is what everything in the run uses.
  MemoryEnv device_files_{UnsyncedEnv()};
  VirtualEnv env_{&device_files_};
  std::mt19937_64 rng_;
  std::string dir_;
  std::optional<ServerOptions> server_options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Server> server_;
  std::optional<SimVendor> vendor_;
  std::optional<PublicKey> order_key_;
  std::string ca_pem_;
  std::shared_ptr<ClientTlsContext> tls_;       // every device's, over HTTPS
  uint16_t port_ = 0;                           // the services', over HTTPS
  int max_open_ = 0;                            // connections kept between turns, at most
  int open_connections_ = 0;                    // ... kept so far in this round
  uint64_t accepted_before_ = 0;                // connections accepted by servers that crashed
  std::map<std::string, std::string> bundles_;  // version -> path
  std::vector<SimHenb> fleet_;
  std::vector<int64_t> campaigns_;
  // Read by the OAM's link to the PVE, on the server's threads over HTTPS.
  std::atomic<bool> pve_down_{false};
  std::atomic<bool> oam_down_{false};
  int64_t pve_back_at_ = 0;
  int64_t oam_back_at_ = 0;
  int64_t first_compromise_at_ = -1;
  int64_t start_millis_ = 0;  // the Env's steady clock when the rounds began
  // Over HTTPS the PVE appraises on the server's threads.
  std::atomic<int64_t> appraisals_{0};
  std::atomic<int64_t> pve_cpu_ns_{0};
  PeerIdentity segw_;
  // Devices whose power is cut: they send nothing. Devices take their
  // turns on several threads; Gate reads it on each request.
  mutable Mutex power_mu_;
  std::set<std::string> powered_off_ GUARDED_BY(power_mu_);
  std::atomic<int> powered_off_count_{0};
  // What the devices' turns count, on several threads (Play adds them to
  // r_ at the end).
  struct TurnCounts {
    std::atomic<int64_t> errors{0};
    std::atomic<int64_t> polls{0};
    std::atomic<int64_t> wakes{0};
    std::atomic<int> installs_refused{0};
    std::atomic<int> power_losses{0};
  } turns_;
  int turn_threads_ = 1;  // devices taking their turns at once
  // Run::Intern's copies, by SHA-256; swept when it doubles. Devices enroll
  // (and doze) on several threads.
  std::mutex intern_mu_;
  std::unordered_map<std::string, std::weak_ptr<const Bytes>> volatile_states_;
  size_t volatile_states_swept_ = 0;  // entries left by the last sweep
};

}  // namespace henbtrust::sim
