// The scenario runner's fleet, its rounds and the run's loop
// (sim/scenario_runner.h).
#include <sys/resource.h>
#include <unistd.h>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "henbtrust/agent/agent.h"
#include "henbtrust/agent/update_agent.h"
#include "henbtrust/agent/watchdog_agent.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/in_process_channel.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/server/server.h"
#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"
#include "sim/measure.h"
#include "sim/scenario_runner.h"
#include "sim/sim_vendor.h"
#include "sim/work_dir.h"

namespace henbtrust {

std::string_view ScenarioTransportName(ScenarioTransport transport) {
  return transport == ScenarioTransport::kHttps ? "https" : "in-process";
}

std::string_view ScenarioClockName(ScenarioClock clock) {
  return clock == ScenarioClock::kMachine ? "machine" : "fleet";
}

Result<ScenarioReport> RunScenario(const Scenario& scenario, const ScenarioRunOptions& options) {
  sim::Run run(scenario, options);
  return run.Play();
}

namespace sim {

namespace {

constexpr int kMaxSamples = 400;
// Descriptors of this process that are not the devices' connections: the
// store, the servers' listeners and pipes, the devices' files in use.
constexpr int64_t kReservedDescriptors = 256;
// A kept connection: the client's socket and its io_context's (epoll,
// eventfd, timerfd), and the server's socket.
constexpr int64_t kDescriptorsPerConnection = 5;

// Resident memory of this process in bytes.
double ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0;
  long resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

}  // namespace

Status Run::MakeServer() {
  const std::string server_dir = dir_ + "/server";
  HENB_TRY(InitServerDirectory(server_dir, {"localhost", "127.0.0.1"}));
  HENB_ASSIGN_OR_RETURN(ServerOptions options, LoadServerDirectory(server_dir));
  options.env = &env_;
  options.drive_interval = std::chrono::milliseconds(0);
  options.oam.ticket_period = s_.ticket_period;
  options.oam.instance_id = "sim-oam-1";
  CountAppraisals(options);
  order_key_.emplace(options.oam.order_key.Public());
  ca_pem_ = options.pve.server_ca_pem;
  if (Https()) {
    options.address = "127.0.0.1";
    options.port = 0;  // the first free one, kept across a crash (OpenServer)
    // A device keeps its connection from one round to the next (the bound
    // below decides which do); one silent for three rounds loses it.
    options.idle_timeout = std::max<std::chrono::milliseconds>(options.idle_timeout,
                                                               std::chrono::seconds(3 * s_.tick));
    HENB_ASSIGN_OR_RETURN(tls_, ClientTlsContext::Create(ca_pem_));
    // Both ends of every connection are descriptors of this process: as
    // many connections are kept as the descriptor limit leaves room for.
    max_open_ = std::max(1, o_.max_connections);
    rlimit files{};
    if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
      const auto fit =
          (static_cast<int64_t>(files.rlim_cur) - kReservedDescriptors) / kDescriptorsPerConnection;
      max_open_ = static_cast<int>(std::clamp<int64_t>(fit, 1, max_open_));
    }
  }
  HENB_ASSIGN_OR_RETURN(store_, OpenStore(options.store, &env_));
  server_options_.emplace(std::move(options));
  // The gateway's identity, as its certificate would name it.
  segw_ = PeerIdentity{true, true, "", "sim-segw", std::string(kRoleSegw), {}};
  return OkStatus();
}

Status Run::OpenServer() {
  server_.reset();
  HENB_ASSIGN_OR_RETURN(server_, Server::Open(*server_options_, *store_));
  if (!Https()) return OkStatus();
  // Over HTTPS the services listen, on the port of the process before a
  // crash, so that the devices find them again where they were.
  HENB_TRY(server_->Start());
  port_ = server_->port();
  server_options_->port = port_;
  return OkStatus();
}

// A crash of the OAM's process: the services and the store's connection,
// with whatever it kept in memory, are gone; a new process opens the store
// file again.
Status Run::CrashServer() {
  if (server_) accepted_before_ += server_->http_stats().accepted;
  server_.reset();
  store_.reset();
  HENB_ASSIGN_OR_RETURN(store_, OpenStore(server_options_->store, &env_));
  return OpenServer();
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
  EnrollmentRequest req{d.id, kModel, kReleaseId, s_.factory_version, ek_cert.ToDer(), ""};
  auto creds = Enroll(*d.device, req);
  if (!creds.ok()) return creds.error().WithContext("enrollment of " + d.id);
  if (!creds->recovery_problem.empty()) {
    return Error(ErrorCode::kDeviceState,
                 d.id + ": the recovery certificate: " + creds->recovery_problem);
  }
  d.dir = ddir;
  if (Https()) {
    HENB_ASSIGN_OR_RETURN(d.channel, Connect(d.id, DeviceTls(*creds), &d.https));
  } else {
    HENB_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromPem(creds->certificate_pem));
    PeerIdentity peer = PeerIdentityOf(cert);
    HENB_TRY(KeepIdentity(d, peer));
    d.channel = InProcess(d.id, std::move(peer));
  }
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
  d.quiet_turn = true;
  return d;
}

// The device's software: its update agent and its watchdog agent, made at
// enrollment and again at each power-on.
void Run::AttachAgents(SimHenb& d) {
  d.watchdog.reset();  // it holds the agent's config and the device: first
  d.agent = std::make_unique<UpdateAgent>(*d.channel, *d.channel, *d.device, *order_key_, d.config);
  RecoveryEndpoint recovery{"", 0, ca_pem_, *order_key_, d.config};
  recovery.config.hooks = nullptr;
  recovery.connect = [this, id = d.id](const TlsConfig& identity) {
    return Connect(id, identity, nullptr);
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
  {
    const MutexLock lock(power_mu_);
    if (powered_off_.erase(d.id) > 0) --powered_off_count_;
  }
  if (d.https != nullptr) d.https->Disconnect();  // its connection went with the power
  HENB_ASSIGN_OR_RETURN(SoftTre tre, SoftTre::Load(nv));
  tre.SetClock([env = &env_] { return static_cast<uint64_t>(env->SteadyMillis()); });
  auto device = Device::Open(d.dir, std::make_unique<SoftTre>(std::move(tre)), DeviceOptionsFor());
  if (!device.ok()) return device.error().WithContext(d.id + ": power-on");
  d.device = std::move(device).value();
  if (auto boot = d.device->Boot(); !boot.ok()) return boot.error().WithContext(d.id + ": boot");
  AttachAgents(d);
  d.last_action = AgentAction::kNone;
  d.quiet_turn = false;
  ++turns_.power_losses;
  return OkStatus();
}

Status Run::Wake(SimHenb& d) {
  if (!d.dormant) return OkStatus();
  HENB_TRY(device_files_.Unpack(d.dir, d.dormant->files));
  HENB_ASSIGN_OR_RETURN(SoftTre tre, SoftTre::Resume(d.dormant->tre, *d.dormant->tre_volatile));
  tre.SetClock([env = &env_] { return static_cast<uint64_t>(env->SteadyMillis()); });
  auto device = Device::Open(d.dir, std::make_unique<SoftTre>(std::move(tre)), DeviceOptionsFor());
  if (!device.ok()) return device.error().WithContext(d.id + ": waking");
  d.device = std::move(device).value();
  auto peer = KeptIdentity(d);
  if (!peer.ok()) return peer.error().WithContext(d.id + ": waking");
  d.channel = InProcess(d.id, std::move(peer).value());
  d.dormant.reset();
  AttachAgents(d);
  ++turns_.wakes;
  return OkStatus();
}

Status Run::Doze(SimHenb& d) {
  if (!o_.dormant || d.dormant || !d.device) return OkStatus();
  const Device& device = *d.device;
  const BootStage* stage = device.boot_stage();
  if (!d.quiet_turn || d.hostile || d.power_loss_pending || d.hooks->faults.corrupt_next_download ||
      d.last_action != AgentAction::kNone || env_.PowerIsCut(d.dir) || stage == nullptr ||
      device.mode() != DeviceMode::kNormal || device.journal().phase != UpdatePhase::kNone ||
      !device.boot_control().trial.empty() || d.watchdog->failures() != 0) {
    return OkStatus();
  }
  auto manifest = device.SlotManifest(device.boot_control().active);
  if (!manifest) return OkStatus();
  // Awake again when the watchdog agent would renew its ticket: less than
  // half a period left (WatchdogAgent::RenewTicket).
  const auto now = static_cast<uint64_t>(env_.SteadyMillis());
  const uint64_t half = static_cast<uint64_t>(stage->state().period) * 1000 / 2;
  const uint64_t deadline = stage->state().deadline_ms;
  if (deadline <= now + half) return OkStatus();
  auto* soft = dynamic_cast<SoftTre*>(&d.device->tre());
  if (soft == nullptr) return Error(ErrorCode::kInternal, d.id + ": not a soft TrE");
  SimHenb::Dormant z{soft->SaveState(), Intern(soft->SaveVolatile()),
                     deadline - half,   static_cast<uint32_t>(stage->state().resets),
                     manifest->version, {}};
  d.watchdog.reset();  // it holds the agent's config and the device: first
  d.agent.reset();
  d.device.reset();
  d.channel.reset();
  auto files = device_files_.Pack(d.dir);
  if (!files.ok()) return files.error().WithContext(d.id + ": dozing");
  z.files = std::move(files).value();
  d.dormant = std::move(z);
  return OkStatus();
}

Status Run::Turn(SimHenb& d) {
  if (d.dormant) {
    if (static_cast<uint64_t>(env_.SteadyMillis()) < d.dormant->wake_ms) return OkStatus();
    HENB_TRY(Wake(d));
  }
  Round(d);
  if (env_.PowerIsCut(d.dir)) HENB_TRY(PowerCycle(d));
  HENB_TRY(Doze(d));
  BoundConnections(d);
  return OkStatus();
}

Status Run::ForEachDevice(const std::function<Status(SimHenb&)>& turn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  std::mutex mu;
  Status failed = OkStatus();
  auto work = [&] {
    for (size_t i = next++; i < fleet_.size() && !stop; i = next++) {
      if (Status st = turn(fleet_[i]); !st.ok()) {
        const std::lock_guard<std::mutex> lock(mu);
        if (failed.ok()) failed = st;
        stop = true;
      }
    }
  };
  // No more threads than devices; fewer if the system refuses one.
  const auto threads = std::min<size_t>(static_cast<size_t>(turn_threads_), fleet_.size());
  std::vector<std::thread> workers;
  for (size_t t = 1; t < threads; ++t) {
    try {
      workers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // the turns are taken by the threads there are
    }
  }
  work();
  for (auto& w : workers) w.join();
  return failed;
}

Status Run::WakeThoseWithJobs() {
  constexpr int kMaxListed = 1'000'000;
  HENB_ASSIGN_OR_RETURN(auto jobs, store_->ListJobs(true, INT64_MAX, kMaxListed));
  for (const UpdateJob& job : jobs) {
    // Device i is "henb-<i+1>" at fleet_[i] (MakeHenb).
    const std::string_view id = job.device_id;
    size_t n = 0;
    if (!id.starts_with("henb-") ||
        std::from_chars(id.data() + 5, id.data() + id.size(), n).ec != std::errc{} || n < 1 ||
        n > fleet_.size() || fleet_[n - 1].id != id) {
      continue;  // not one of the fleet's
    }
    if (auto& z = fleet_[n - 1].dormant) z->wake_ms = 0;
  }
  return OkStatus();
}

std::shared_ptr<const Bytes> Run::Intern(Bytes bytes) {
  std::string key = ToString(Sha256(bytes));
  const std::lock_guard<std::mutex> lock(intern_mu_);
  if (auto it = volatile_states_.find(key); it != volatile_states_.end()) {
    if (auto kept = it->second.lock()) return kept;
  }
  auto kept = std::make_shared<const Bytes>(std::move(bytes));
  volatile_states_[std::move(key)] = kept;
  if (volatile_states_.size() > 2 * std::max<size_t>(volatile_states_swept_, 64)) {
    std::erase_if(volatile_states_, [](const auto& entry) { return entry.second.expired(); });
    volatile_states_swept_ = volatile_states_.size();
  }
  return kept;
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
  // Devices enroll as they take their turns (ForEachDevice), each into its
  // own place in the fleet.
  fleet_.resize(static_cast<size_t>(r_.devices));
  std::atomic<int> made{0};
  std::mutex say_mu;
  const Status enrolled = ForEachDevice([&](SimHenb& slot) -> Status {
    const auto index = static_cast<int>(&slot - fleet_.data());
    HENB_ASSIGN_OR_RETURN(slot, MakeHenb(index + 1, mfr.ca, mfr.key));
    HENB_TRY(Doze(slot));
    const std::lock_guard<std::mutex> lock(say_mu);
    if (const int k = ++made; k % std::max(1, r_.devices / 10) == 0)
      Say("enrolled " + std::to_string(k) + " of " + std::to_string(r_.devices));
    return OkStatus();
  });
  HENB_TRY(enrolled);
  for (auto& d : fleet_) BoundConnections(d);
  r_.memory_bytes_per_device = std::max(0.0, ResidentBytes() - rss_before) / r_.devices;
  std::string files = "devices' files: " + std::to_string(device_files_.FileCount()) +
                      " in memory, " + std::to_string(device_files_.ContentBytes() / 1024) +
                      " KiB of contents";
  if (o_.dormant) {
    size_t dormant = 0;
    size_t packed = 0;
    for (const auto& d : fleet_) {
      if (d.dormant) {
        ++dormant;
        packed += d.dormant->files.Bytes();
      }
    }
    files += "; " + std::to_string(dormant) + " devices dormant, their files packed in " +
             std::to_string(packed / 1024) + " KiB";
  }
  Say(files);
  return OkStatus();
}

// One round of one device: the hardware's watchdog, then what its software
// does (a hostile OS nothing, outside recovery).
void Run::Round(SimHenb& d) {
  const int64_t t = FleetTime();
  d.quiet_turn = false;
  auto fired = d.device->Watchdog();
  if (!fired.ok()) ++turns_.errors;
  const uint32_t resets = d.device->boot_stage()->state().resets;
  if (resets != d.resets_seen) {
    if (d.last_reset_at >= 0 && t - d.last_reset_at < 2 * s_.ticket_period) d.reset_loop = true;
    d.last_reset_at = t;
    d.resets_seen = resets;
  }
  const bool recovering = d.device->mode() == DeviceMode::kRecovery;
  if (d.hostile && !recovering) return;
  auto w = d.watchdog->Round();
  if (!w.ok()) ++turns_.errors;
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
  ++turns_.polls;
  if (!poll.ok()) {
    ++turns_.errors;
    return;
  }
  d.last_action = poll->action;
  d.quiet_turn = w.ok() && poll->action == AgentAction::kNone;
  // Step 6 refused what it was given (an altered download, say).
  if (poll->outcome.starts_with("rejected before install")) ++turns_.installs_refused;
}

Result<ScenarioReport> Run::Play() {
  const auto wall_start = std::chrono::steady_clock::now();
  if (o_.clock == ScenarioClock::kMachine) env_.UseMachineClock();
  r_.scenario = s_.name;
  r_.transport = std::string(ScenarioTransportName(o_.transport));
  r_.clock = std::string(ScenarioClockName(o_.clock));
  r_.devices = o_.devices.value_or(s_.devices);
  r_.seed = o_.seed.value_or(s_.seed);
  r_.dormant = o_.dormant;
  rng_.seed(r_.seed);
  if (r_.devices < 1)
    return Error(ErrorCode::kInvalidArgument, "a fleet needs at least one device");
  // In the process the devices take their turns on every core; over HTTPS
  // one at a time, as the connections they keep are counted in turn order.
  turn_threads_ =
      Https() ? 1 : std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 8);
  if (o_.dormant && Https()) {
    return Error(ErrorCode::kInvalidArgument,
                 "dormant devices are for the in-process transport (over HTTPS each device "
                 "keeps its client)");
  }
  dir_ = o_.work_dir;
  HENB_TRY(sim::PrepareWorkDir(dir_));
  device_files_.AddRoot(dir_ + "/devices");
  HENB_TRY(MakeServer());
  HENB_TRY(MakeFleet());
  Say("fleet of " + std::to_string(r_.devices) + " enrolled on " + s_.factory_version + "; seed " +
      std::to_string(r_.seed));

  // Fleet time moves by a tick a round; on the machine's clock the rounds
  // run back to back. A sample is taken every few rounds, about kMaxSamples
  // in max_duration; on the machine's clock also after each of the first
  // kMaxSamples rounds, since a throughput run is over in a few rounds.
  const bool machine = env_.machine_clock();
  const int64_t total_ticks = std::max<int64_t>(1, s_.max_duration / s_.tick);
  const int64_t sample_period = machine ? std::max<int64_t>(1, s_.max_duration / kMaxSamples)
                                        : std::max<int64_t>(1, total_ticks / kMaxSamples) * s_.tick;
  int64_t next_sample = 0;
  size_t next_event = 0;
  start_millis_ = env_.SteadyMillis();
  // The rounds' wall time, the samples (the gateway's questions about every
  // device) left out.
  std::chrono::steady_clock::duration sampling{};
  const auto play_start = std::chrono::steady_clock::now();
  for (;;) {
    const int64_t t = FleetTime();
    if (pve_down_ && t >= pve_back_at_) pve_down_ = false;
    if (oam_down_ && t >= oam_back_at_) oam_down_ = false;
    while (next_event < s_.events.size() && s_.events[next_event].at <= t) {
      HENB_TRY(Apply(s_.events[next_event++]));
    }
    open_connections_ = 0;
    HENB_TRY(ForEachDevice([this](SimHenb& d) { return Turn(d); }));
    if (!oam_down_) {
      auto moved = server_->oam().Drive();
      if (!moved.ok()) ++r_.errors;
      if (o_.dormant) HENB_TRY(WakeThoseWithJobs());
    }
    ++r_.rounds;
    if (t >= next_sample || (machine && r_.timeline.size() < kMaxSamples)) {
      const auto before = std::chrono::steady_clock::now();
      HENB_ASSIGN_OR_RETURN(FleetSample f, Sample(false));
      r_.timeline.push_back(f);
      next_sample = t + sample_period;
      sampling += std::chrono::steady_clock::now() - before;
    }
    if (next_event == s_.events.size()) {
      HENB_ASSIGN_OR_RETURN(bool settled, Settled());
      if (settled) {
        r_.finished = true;
        break;
      }
    }
    if (machine ? FleetTime() >= s_.max_duration : t + s_.tick > s_.max_duration) break;
    env_.Advance(s_.tick * 1000);
  }
  r_.errors += turns_.errors.load();
  r_.polls = turns_.polls.load();
  r_.wakes = turns_.wakes.load();
  r_.installs_refused = turns_.installs_refused.load();
  r_.power_losses = turns_.power_losses.load();
  r_.fleet_seconds = FleetTime();
  r_.play_wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - play_start - sampling)
          .count();
  HENB_TRY(Finish());
  r_.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return r_;
}

}  // namespace sim
}  // namespace henbtrust
