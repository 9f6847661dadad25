#include "henbtrust/sim/scenario_run.h"

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <set>

#include "henbtrust/agent/agent.h"
#include "henbtrust/agent/update_agent.h"
#include "henbtrust/agent/watchdog_agent.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/in_process_channel.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/net/pve_protocol.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/server/server.h"
#include "henbtrust/sim/compromise.h"
#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"
#include "sim/measure.h"
#include "sim/sim_vendor.h"
#include "sim/virtual_env.h"
#include "sim/work_dir.h"

namespace henbtrust {

namespace {

namespace fs = std::filesystem;

using sim::kModel;
using sim::kReleaseId;
constexpr int kMaxSamples = 400;

// Resident memory of this process in bytes.
double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0;
  long resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// The simulator's hooks into a device's update agent: the faults a scenario
// injects, and the moments just before and just after an install.
class SimHooks final : public UpdateAgentHooks {
 public:
  InjectedFaults faults;
  std::function<void()> before_install = nullptr;
  std::function<void()> after_install = nullptr;

  void Downloaded(const std::string& path) override {
    faults.Downloaded(path);
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
  std::unique_ptr<InProcessChannel> channel;  // to the OAM and the PVE, as the device
  std::string dir;
  std::unique_ptr<SimHooks> hooks = std::make_unique<SimHooks>();
  bool power_loss_pending = false;  // at its next install
  UpdateAgentConfig config;
  std::unique_ptr<UpdateAgent> agent;
  std::unique_ptr<WatchdogAgent> watchdog;
  AgentAction last_action = AgentAction::kNone;
  bool hostile = false;         // the OS ignores everything
  int64_t compromised_at = -1;  // fleet time of the compromise, if any
  int64_t detected_at = -1;     // its recovery image reached the OAM
  int64_t recovered_at = -1;    // back in normal service
  bool admitted_while_compromised = false;
  uint32_t resets_seen = 0;
  int64_t last_reset_at = -1;
  bool reset_loop = false;
};

class Run {
 public:
  Run(const Scenario& s, const ScenarioRunOptions& o) : s_(s), o_(o) {}

  Result<ScenarioReport> Play();

 private:
  // Seconds of fleet time since the fleet enrolled.
  int64_t FleetTime() const { return env_.Elapsed() - start_; }
  void Say(const std::string& line) const {
    if (o_.progress) o_.progress(line);
  }
  Status MakeServer();
  Status OpenServer();
  Status CrashServer();
  Status MakeReleases();
  Status MakeFleet();
  Result<SimHenb> MakeHenb(int index, const Certificate& mfr, const PrivateKey& mfr_key);
  void AttachAgents(SimHenb& d);
  void ArmPowerLoss(size_t index);
  Status PowerCycle(SimHenb& d);
  DeviceOptions DeviceOptionsFor();
  Result<HttpResponse> Serve(const HttpRequest& request);
  PveLink WrapLink(PveLink link);
  std::vector<size_t> Pick(double share);
  Status Apply(const ScenarioEvent& e);
  void Round(SimHenb& d);
  Result<bool> Admitted(const SimHenb& d);
  Result<FleetSample> Sample(bool final_sample);
  Result<bool> Settled();
  Status Finish();

  const Scenario& s_;
  const ScenarioRunOptions& o_;
  ScenarioReport r_;
  sim::VirtualEnv env_;
  std::mt19937_64 rng_;
  std::string dir_;
  std::optional<ServerOptions> server_options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Server> server_;
  std::optional<sim::SimVendor> vendor_;
  std::optional<PublicKey> order_key_;
  std::string ca_pem_;
  std::map<std::string, std::string> bundles_;  // version -> path
  std::vector<SimHenb> fleet_;
  std::vector<int64_t> campaigns_;
  bool pve_down_ = false;
  bool oam_down_ = false;
  int64_t pve_back_at_ = 0;
  int64_t oam_back_at_ = 0;
  int64_t first_compromise_at_ = -1;
  int64_t start_ = 0;
  double pve_cpu_us_ = 0;
  PeerIdentity segw_;
  std::set<std::string> powered_off_;  // devices whose power is cut: they send nothing
};

Status Run::MakeServer() {
  const std::string server_dir = dir_ + "/server";
  HENB_TRY(InitServerDirectory(server_dir, {"localhost"}));
  HENB_ASSIGN_OR_RETURN(ServerOptions options, LoadServerDirectory(server_dir));
  options.env = &env_;
  options.drive_interval = std::chrono::milliseconds(0);
  options.oam.ticket_period = s_.ticket_period;
  options.oam.instance_id = "sim-oam-1";
  options.wrap_pve_link = [this](PveLink link) { return WrapLink(std::move(link)); };
  order_key_.emplace(options.oam.order_key.Public());
  ca_pem_ = options.pve.server_ca_pem;
  HENB_ASSIGN_OR_RETURN(store_, OpenStore(options.store, &env_));
  server_options_.emplace(std::move(options));
  // The gateway's identity, as its certificate would name it.
  segw_ = PeerIdentity{true, true, "", "sim-segw", std::string(kRoleSegw), {}};
  return OkStatus();
}

Status Run::OpenServer() {
  server_.reset();
  HENB_ASSIGN_OR_RETURN(server_, Server::Open(*server_options_, *store_));
  return OkStatus();
}

// A crash of the OAM's process: the services and the store's connection,
// with whatever it kept in memory, are gone; a new process opens the store
// file again.
Status Run::CrashServer() {
  server_.reset();
  store_.reset();
  HENB_ASSIGN_OR_RETURN(store_, OpenStore(server_options_->store, &env_));
  return OpenServer();
}

PveLink Run::WrapLink(PveLink link) {
  return [this, link = std::move(link)](const std::string& method, const std::string& target,
                                        const std::string& body) -> Result<HttpResponse> {
    if (pve_down_) return Error(ErrorCode::kNet, "cannot connect to the PVE (outage)");
    const bool appraisal = target.ends_with("/update-appraisals");
    // The PVE appraises on its own threads while this one waits: the
    // process's CPU over the call is the PVE's.
    const double before = sim::ProcessCpuMicros();
    auto answer = link(method, target, body);
    if (appraisal) {
      pve_cpu_us_ += sim::ProcessCpuMicros() - before;
      if (answer.ok() && answer->status == 200) ++r_.appraisals;
    }
    return answer;
  };
}

Result<HttpResponse> Run::Serve(const HttpRequest& request) {
  if (!powered_off_.empty() && powered_off_.contains(request.peer.common_name)) {
    return Error(ErrorCode::kNet, "the device has no power");
  }
  if (server_ && server_->oam().Serves(request.target)) {
    if (oam_down_) return Error(ErrorCode::kNet, "cannot connect to the OAM (outage)");
    return server_->oam().Handle(request);
  }
  if (pve_down_ || !server_ || server_->pve() == nullptr) {
    return Error(ErrorCode::kNet, "cannot connect to the PVE (outage)");
  }
  const bool appraisal = request.target == "/v1/evidence";
  const double before = sim::ThreadCpuMicros();
  HttpResponse answer = server_->pve()->Handle(request);
  if (appraisal) {
    pve_cpu_us_ += sim::ThreadCpuMicros() - before;
    if (answer.status == 200) ++r_.appraisals;
  }
  return answer;
}

// Two components per release, their contents derived from the version.
Status Run::MakeReleases() {
  HENB_ASSIGN_OR_RETURN(sim::SimVendor vendor, sim::SimVendor::Create());
  vendor_.emplace(std::move(vendor));
  const int64_t expires = env_.NowUnixSeconds() + int64_t{2} * 365 * 86'400 + s_.max_duration;
  for (const auto& rel : s_.releases) {
    HENB_ASSIGN_OR_RETURN(std::string bundle, vendor_->MakeRelease(dir_ + "/releases", rel.version,
                                                                   rel.counter, expires));
    if (auto imported = server_->oam().ImportRelease(bundle, vendor_->trust(), "sim:vendor");
        !imported.ok()) {
      return imported.error();
    }
    bundles_[rel.version] = bundle;
  }
  return OkStatus();
}

Result<SimHenb> Run::MakeHenb(int index, const Certificate& mfr, const PrivateKey& mfr_key) {
  char name[32];
  std::snprintf(name, sizeof name, "henb-%07d", index);
  SimHenb d;
  d.id = name;
  const std::string ddir = dir_ + "/devices/" + d.id;
  HENB_ASSIGN_OR_RETURN(SoftTre tre, SoftTre::Create());
  tre.SetClock([env = &env_] { return static_cast<uint64_t>(env->SteadyMillis()); });
  auto device = Device::Provision(ddir, kModel, bundles_.at(s_.factory_version), vendor_->trust(),
                                  env_.NowUnixSeconds(), std::make_unique<SoftTre>(std::move(tre)),
                                  DeviceOptionsFor());
  if (!device.ok()) return device.error().WithContext(d.id);
  d.device = std::move(device).value();
  if (auto boot = d.device->Boot(); !boot.ok()) return boot.error().WithContext(d.id);
  HENB_ASSIGN_OR_RETURN(auto ek, ParseTpmPublic(d.device->tre().EkPublic()));
  HENB_ASSIGN_OR_RETURN(Certificate ek_cert,
                        IssueEkCertificate(ek.key, mfr_key, mfr, d.id + " EK"));
  InProcessChannel enrollment([this](const HttpRequest& r) { return Serve(r); }, PeerIdentity{});
  EnrollmentRequest req{d.id, kModel, kReleaseId, s_.factory_version, ek_cert.ToDer(), ""};
  auto creds = EnrollDevice(enrollment, *d.device, req);
  if (!creds.ok()) return creds.error().WithContext("enrollment of " + d.id);
  if (!creds->recovery_problem.empty()) {
    return Error(ErrorCode::kDeviceState,
                 d.id + ": the recovery certificate: " + creds->recovery_problem);
  }
  HENB_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromPem(creds->certificate_pem));
  d.channel = std::make_unique<InProcessChannel>([this](const HttpRequest& r) { return Serve(r); },
                                                 PeerIdentityOf(cert));
  d.dir = ddir;
  d.config.device_id = d.id;
  d.config.trust = &vendor_->trust();
  d.config.download_dir = ddir + "/downloads";
  d.config.now = [env = &env_] { return env->NowUnixSeconds(); };
  d.config.hooks = d.hooks.get();
  AttachAgents(d);
  // Power-on: the agent attests and feeds the watchdog at once.
  if (auto first = d.watchdog->RenewTicket(true); !first.ok()) {
    return first.error().WithContext(d.id + ": the first ticket");
  }
  return d;
}

// The device's software: its update agent and its watchdog agent, made at
// enrollment and again at each power-on.
void Run::AttachAgents(SimHenb& d) {
  d.watchdog.reset();  // it holds the agent's config and the device: first
  d.agent = std::make_unique<UpdateAgent>(*d.channel, *d.channel, *d.device, *order_key_, d.config);
  RecoveryEndpoint recovery{"", 0, ca_pem_, *order_key_, d.config};
  recovery.config.hooks = nullptr;
  recovery.connect = [this](const TlsConfig& identity) -> Result<std::unique_ptr<HttpChannel>> {
    HENB_ASSIGN_OR_RETURN(Certificate c, Certificate::FromPem(identity.certificate_chain));
    return std::unique_ptr<HttpChannel>(std::make_unique<InProcessChannel>(
        [this](const HttpRequest& r) { return Serve(r); }, PeerIdentityOf(c)));
  };
  const WatchdogRetry retry{std::clamp<int64_t>(s_.ticket_period / 4, 1, 30),
                            std::clamp<int64_t>(s_.ticket_period, 2, 300)};
  d.watchdog = std::make_unique<WatchdogAgent>(*d.channel, *d.channel, *d.device,
                                               std::move(recovery), d.id, retry);
}

// Power comes back to a device whose power was cut: the TrE keeps what a
// TPM keeps across a power cycle (keys, counter, clock), the device opens
// what its files hold (its journal resolves an interrupted update), boots,
// and its software starts afresh.
Status Run::PowerCycle(SimHenb& d) {
  auto* soft = dynamic_cast<SoftTre*>(&d.device->tre());
  if (soft == nullptr) return Error(ErrorCode::kInternal, d.id + ": not a soft TrE");
  const Bytes nv = soft->SaveState();
  d.watchdog.reset();
  d.agent.reset();
  d.device.reset();
  env_.RestorePower(d.dir);
  powered_off_.erase(d.id);
  HENB_ASSIGN_OR_RETURN(SoftTre tre, SoftTre::Load(nv));
  tre.SetClock([env = &env_] { return static_cast<uint64_t>(env->SteadyMillis()); });
  auto device = Device::Open(d.dir, std::make_unique<SoftTre>(std::move(tre)), DeviceOptionsFor());
  if (!device.ok()) return device.error().WithContext(d.id + ": power-on");
  d.device = std::move(device).value();
  if (auto boot = d.device->Boot(); !boot.ok()) return boot.error().WithContext(d.id + ": boot");
  AttachAgents(d);
  d.last_action = AgentAction::kNone;
  ++r_.power_losses;
  return OkStatus();
}

DeviceOptions Run::DeviceOptionsFor() {
  DeviceOptions options;
  options.boot_stage = {order_key_->ToPem(), s_.ticket_period};
  options.env = &env_;
  return options;
}

Status Run::MakeFleet() {
  HENB_ASSIGN_OR_RETURN(sim::SimManufacturer mfr, sim::SimManufacturer::Create());
  server_options_->pve.manufacturer_cas = {mfr.ca};
  HENB_TRY(OpenServer());
  HENB_TRY(MakeReleases());
  const double rss_before = ResidentBytes();
  fleet_.reserve(static_cast<size_t>(r_.devices));
  for (int i = 1; i <= r_.devices; ++i) {
    HENB_ASSIGN_OR_RETURN(SimHenb d, MakeHenb(i, mfr.ca, mfr.key));
    fleet_.push_back(std::move(d));
    if (i % std::max(1, r_.devices / 10) == 0)
      Say("enrolled " + std::to_string(i) + " of " + std::to_string(r_.devices));
  }
  r_.memory_bytes_per_device = std::max(0.0, ResidentBytes() - rss_before) / r_.devices;
  return OkStatus();
}

// `share` of the fleet, at least one device, drawn with the run's seed.
std::vector<size_t> Run::Pick(double share) {
  std::vector<size_t> all(fleet_.size());
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng_);
  const auto n = std::max<size_t>(
      1, static_cast<size_t>(std::llround(share * static_cast<double>(fleet_.size()))));
  all.resize(std::min(n, all.size()));
  std::sort(all.begin(), all.end());
  return all;
}

Status Run::Apply(const ScenarioEvent& e) {
  const int64_t t = FleetTime();
  std::string note =
      "t=" + std::to_string(t) + "s " + std::string(ScenarioEventKindName(e.kind)) + ": ";
  switch (e.kind) {
    case ScenarioEventKind::kCampaign: {
      CreateCampaignRequest c;
      c.release_id = kReleaseId;
      c.version = e.version;
      c.selection.hardware_model = kModel;
      c.batch_size = e.batch_size;
      auto view = server_->oam().CreateCampaign(c, "sim:operator");
      if (!view.ok()) return view.error().WithContext("campaign to " + e.version);
      campaigns_.push_back(view->campaign.id);
      note += "campaign " + std::to_string(view->campaign.id) + " to " + e.version + " over " +
              std::to_string(view->members) + " devices";
      break;
    }
    case ScenarioEventKind::kCompromise: {
      const auto picked = Pick(e.share);
      for (size_t i : picked) {
        SimHenb& d = fleet_[i];
        HENB_TRY(ImplantActiveSlot(*d.device));
        d.hostile = true;
        if (d.compromised_at < 0) ++r_.compromised;
        d.compromised_at = t;
        d.recovered_at = -1;
        d.detected_at = -1;
      }
      if (first_compromise_at_ < 0) first_compromise_at_ = t;
      note += std::to_string(picked.size()) +
              " devices' OS taken over (a component changed; every command ignored)";
      break;
    }
    case ScenarioEventKind::kPowerLoss: {
      const auto picked = Pick(e.share);
      for (size_t i : picked) {
        fleet_[i].power_loss_pending = true;
        ++r_.power_losses_planned;
        fleet_[i].hooks->before_install = [this, i] { ArmPowerLoss(i); };
        // A cut the install did not reach (or an install refused before it
        // wrote) is withdrawn: the power goes in the install or not at all,
        // and faults_missed says so.
        fleet_[i].hooks->after_install = [this, i] {
          if (!env_.PowerIsCut(fleet_[i].dir)) env_.RestorePower(fleet_[i].dir);
        };
      }
      note += std::to_string(picked.size()) + " devices lose power during their next install";
      break;
    }
    case ScenarioEventKind::kCorruptDownloads: {
      const auto picked = Pick(e.share);
      for (size_t i : picked) fleet_[i].hooks->faults.corrupt_next_download = true;
      r_.corrupt_downloads_planned += static_cast<int>(picked.size());
      note += std::to_string(picked.size()) + " devices' next download altered on the path";
      break;
    }
    case ScenarioEventKind::kRollback: {
      // The OAM is asked for the older release (a stolen operator account,
      // say), and every device is handed its bundle directly (a path attack).
      int refused_by_oam = 0;
      int refused_by_device = 0;
      for (auto& d : fleet_) {
        auto job = server_->oam().OpenJob(d.id, kReleaseId, e.version, "sim:attacker");
        if (job.ok()) {
          ++r_.rollbacks_accepted;  // the OAM ordered a downgrade
        } else {
          ++refused_by_oam;
        }
        if (d.hostile || d.device->mode() != DeviceMode::kNormal) continue;
        auto installed =
            d.device->Install(bundles_.at(e.version), vendor_->trust(), env_.NowUnixSeconds());
        if (installed.ok()) {
          ++r_.rollbacks_accepted;
          (void)d.device->Rollback("sim: a rollback attack's install, abandoned");
        } else {
          ++refused_by_device;
        }
      }
      note += e.version + " offered: the OAM refused " + std::to_string(refused_by_oam) +
              " jobs, the devices refused " + std::to_string(refused_by_device) +
              " installs, accepted " + std::to_string(r_.rollbacks_accepted);
      break;
    }
    case ScenarioEventKind::kPveOutage:
      pve_down_ = true;
      pve_back_at_ = t + e.duration;
      note += "the PVE is out of reach for " + std::to_string(e.duration) + " s";
      break;
    case ScenarioEventKind::kOamOutage:
      oam_down_ = true;
      oam_back_at_ = t + e.duration;
      note += "the OAM is out of reach for " + std::to_string(e.duration) + " s";
      break;
    case ScenarioEventKind::kOamCrash:
      HENB_TRY(CrashServer());
      note += "the OAM process died; a new one opened the store and took over";
      break;
    case ScenarioEventKind::kRevoke: {
      ReleaseRevocation rev{kReleaseId, e.version, e.safe_version, "sim: revoked", 0};
      auto outcome = server_->oam().RevokeRelease(rev, "sim:operator");
      if (!outcome.ok()) return outcome.error().WithContext("revocation of " + e.version);
      if (outcome->campaign) campaigns_.push_back(outcome->campaign->campaign.id);
      note += e.version + " revoked; " + std::to_string(outcome->devices) +
              " devices ran it and are reinstalled to " + e.safe_version;
      break;
    }
  }
  Say(note);
  r_.notes.push_back(note);
  return OkStatus();
}

// The power goes at a file operation of the install that starts now, drawn
// from the seed among its first 10 (an install of the simulator's releases
// makes about 14: journal, slot cleared, two images, manifest, journal,
// boot control; each atomic write is a create and a rename).
void Run::ArmPowerLoss(size_t index) {
  SimHenb& d = fleet_[index];
  if (!d.power_loss_pending) return;
  d.power_loss_pending = false;
  const int after = static_cast<int>(rng_() % 10) + 1;
  env_.CutPowerAfter(d.dir, after, [this, id = d.id] { powered_off_.insert(id); });
}

// One round of one device: the hardware's watchdog, then what its software
// does (a hostile OS nothing, outside recovery).
void Run::Round(SimHenb& d) {
  const int64_t t = FleetTime();
  auto fired = d.device->Watchdog();
  if (!fired.ok()) ++r_.errors;
  const uint32_t resets = d.device->boot_stage()->state().resets;
  if (resets != d.resets_seen) {
    if (d.last_reset_at >= 0 && t - d.last_reset_at < 2 * s_.ticket_period) d.reset_loop = true;
    d.last_reset_at = t;
    d.resets_seen = resets;
  }
  const bool recovering = d.device->mode() == DeviceMode::kRecovery;
  if (d.hostile && !recovering) return;
  auto w = d.watchdog->Round();
  if (!w.ok()) ++r_.errors;
  // Detected: the recovery image reached the OAM (a contact that fails
  // leaves it in minimal mode instead).
  if (recovering && d.compromised_at >= 0 && d.detected_at < 0 && w.ok() &&
      d.device->mode() != DeviceMode::kMinimal) {
    d.detected_at = t;
  }
  if (d.device->mode() != DeviceMode::kNormal) return;
  if (recovering) {
    d.hostile = false;  // whatever ran before is gone
    if (d.compromised_at >= 0 && d.recovered_at < 0) d.recovered_at = t;
    return;
  }
  if (d.compromised_at >= 0 && d.recovered_at < 0 && !d.hostile) d.recovered_at = t;
  auto poll = d.agent->PollOnce();
  ++r_.polls;
  if (!poll.ok()) {
    ++r_.errors;
    return;
  }
  d.last_action = poll->action;
  // Step 6 refused what it was given (an altered download, say).
  if (poll->outcome.starts_with("rejected before install")) ++r_.installs_refused;
}

Result<bool> Run::Admitted(const SimHenb& d) {
  HttpRequest q{"GET",
                "/v1/devices/" + d.id +
                    "/access-decision?occasion=recheck&max_age=" + std::to_string(s_.segw_max_age),
                "",
                "",
                "",
                segw_};
  if (pve_down_ || server_->pve() == nullptr)
    return Error(ErrorCode::kNet, "the PVE is out of reach");
  HttpResponse answer = server_->pve()->Handle(q);
  if (answer.status != 200) {
    return Error(ErrorCode::kNetStatus,
                 d.id + ": access decision: HTTP " + std::to_string(answer.status));
  }
  HENB_ASSIGN_OR_RETURN(AccessDecisionAnswer decision, DecodeAccessDecision(answer.body));
  return decision.decision == "admit";
}

Result<FleetSample> Run::Sample(bool final_sample) {
  FleetSample f;
  f.t = FleetTime();
  for (auto& d : fleet_) {
    const DeviceMode mode = d.device->mode();
    const bool has_release = d.device->SlotManifest(d.device->boot_control().active).has_value();
    if (d.compromised_at >= 0) ++f.compromised;
    if (d.recovered_at >= 0) ++f.recovered;
    std::optional<bool> admitted;
    if (!pve_down_) {
      HENB_ASSIGN_OR_RETURN(admitted, Admitted(d));
    }
    if (admitted.value_or(false) && d.hostile && d.compromised_at >= 0 &&
        f.t >= d.compromised_at + s_.segw_max_age) {
      d.admitted_while_compromised = true;
    }
    if (final_sample && admitted.has_value() && !*admitted && d.compromised_at < 0) {
      ++r_.wrongly_quarantined;
    }
    // Bricked: no release to serve from outside recovery, or the run is
    // over and the recovery image still runs.
    const bool recovery = mode == DeviceMode::kRecovery;
    if (recovery ? final_sample : !has_release) {
      ++f.bricked;
    } else if (recovery) {
      ++f.recovery;
    } else if (mode == DeviceMode::kMinimal) {
      ++f.minimal;
    } else if (d.last_action != AgentAction::kNone) {
      ++f.updating;
    } else if (admitted.has_value() && !*admitted) {
      ++f.quarantined;
    } else {
      ++f.normal;
    }
  }
  return f;
}

Result<bool> Run::Settled() {
  if (pve_down_ || oam_down_) return false;
  for (const auto& d : fleet_) {
    if (d.hostile || d.device->mode() != DeviceMode::kNormal ||
        d.last_action != AgentAction::kNone) {
      return false;
    }
  }
  for (int64_t id : campaigns_) {
    HENB_ASSIGN_OR_RETURN(CampaignView view, server_->oam().GetCampaign(id));
    if (view.campaign.state == CampaignState::kRunning ||
        view.campaign.state == CampaignState::kPaused) {
      return false;
    }
  }
  return true;
}

Status Run::Finish() {
  HENB_ASSIGN_OR_RETURN(FleetSample last, Sample(true));
  r_.timeline.push_back(last);
  r_.bricked = last.bricked;
  int64_t detect = -1;
  int64_t recover = -1;
  bool all_detected = true;
  bool all_recovered = true;
  for (const auto& d : fleet_) {
    const uint32_t resets = d.device->boot_stage()->state().resets;
    r_.max_resets = std::max(r_.max_resets, static_cast<int>(resets));
    if (d.reset_loop) ++r_.reset_loops;
    if (d.admitted_while_compromised) ++r_.compromised_admitted;
    auto m = d.device->SlotManifest(d.device->boot_control().active);
    ++r_.running[m ? m->version : "none"];
    if (d.compromised_at < 0) {
      r_.healthy_resets += static_cast<int>(resets);
      continue;
    }
    if (d.detected_at >= 0) {
      detect = std::max(detect, d.detected_at);
    } else {
      all_detected = false;
    }
    if (d.recovered_at >= 0) {
      ++r_.recovered;
      recover = std::max(recover, d.recovered_at);
    } else {
      all_recovered = false;
    }
  }
  if (first_compromise_at_ >= 0) {
    if (all_detected) r_.time_to_detect_s = static_cast<double>(detect - first_compromise_at_);
    if (all_recovered) r_.time_to_recover_s = static_cast<double>(recover - first_compromise_at_);
  }
  // Jobs by final state, from the OAM's store.
  for (int64_t after = 0;;) {
    HENB_ASSIGN_OR_RETURN(auto jobs, store_->ListJobs(false, 0, 1000, after));
    if (jobs.empty()) break;
    for (const auto& j : jobs) {
      ++r_.jobs[std::string(JobStateName(j.state))];
      if (j.state != JobState::kCommitted) ++r_.jobs_not_committed;
    }
    after = jobs.back().id;
  }
  // A fault the scenario asked for that did not happen makes the run prove
  // less than it says.
  int corrupt_pending = 0;
  for (const auto& d : fleet_) corrupt_pending += d.hooks->faults.corrupt_next_download ? 1 : 0;
  r_.faults_missed = (r_.power_losses_planned - r_.power_losses) + corrupt_pending;
  r_.store_bytes_per_device =
      static_cast<double>(sim::SqliteStoreBytes(dir_ + "/server/henbtrust.db")) / r_.devices;
  r_.pve_cpu_us_per_appraisal =
      r_.appraisals > 0 ? pve_cpu_us_ / static_cast<double>(r_.appraisals) : 0;
  return OkStatus();
}

Result<ScenarioReport> Run::Play() {
  const auto wall_start = std::chrono::steady_clock::now();
  r_.scenario = s_.name;
  r_.devices = o_.devices.value_or(s_.devices);
  r_.seed = o_.seed.value_or(s_.seed);
  rng_.seed(r_.seed);
  if (r_.devices < 1)
    return Error(ErrorCode::kInvalidArgument, "a fleet needs at least one device");
  dir_ = o_.work_dir;
  HENB_TRY(sim::PrepareWorkDir(dir_));
  std::error_code ec;
  fs::create_directories(dir_ + "/devices", ec);
  if (ec) return Error(ErrorCode::kIo, "cannot create " + dir_ + "/devices: " + ec.message());
  HENB_TRY(MakeServer());
  HENB_TRY(MakeFleet());
  Say("fleet of " + std::to_string(r_.devices) + " enrolled on " + s_.factory_version + "; seed " +
      std::to_string(r_.seed));

  const int64_t total_ticks = std::max<int64_t>(1, s_.max_duration / s_.tick);
  const int64_t sample_every = std::max<int64_t>(1, total_ticks / kMaxSamples);
  size_t next_event = 0;
  start_ = env_.Elapsed();
  for (int64_t tick = 0;; ++tick) {
    const int64_t t = FleetTime();
    if (pve_down_ && t >= pve_back_at_) pve_down_ = false;
    if (oam_down_ && t >= oam_back_at_) oam_down_ = false;
    while (next_event < s_.events.size() && s_.events[next_event].at <= t) {
      HENB_TRY(Apply(s_.events[next_event++]));
    }
    for (auto& d : fleet_) {
      Round(d);
      if (env_.PowerIsCut(d.dir)) HENB_TRY(PowerCycle(d));
    }
    if (!oam_down_) {
      auto moved = server_->oam().Drive();
      if (!moved.ok()) ++r_.errors;
    }
    ++r_.rounds;
    if (tick % sample_every == 0) {
      HENB_ASSIGN_OR_RETURN(FleetSample f, Sample(false));
      r_.timeline.push_back(f);
    }
    if (next_event == s_.events.size()) {
      HENB_ASSIGN_OR_RETURN(bool settled, Settled());
      if (settled) {
        r_.finished = true;
        break;
      }
    }
    if (t + s_.tick > s_.max_duration) break;
    env_.Advance(s_.tick * 1000);
  }
  r_.fleet_seconds = FleetTime();
  HENB_TRY(Finish());
  r_.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return r_;
}

}  // namespace

Result<ScenarioReport> RunScenario(const Scenario& scenario, const ScenarioRunOptions& options) {
  Run run(scenario, options);
  return run.Play();
}

}  // namespace henbtrust
