#include "henbtrust/sim/compact_fleet.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <semaphore>
#include <thread>
#include <vector>

#include "agent/refusal.h"
#include "henbtrust/agent/agent.h"
#include "henbtrust/net/in_process_channel.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/net/pve_protocol.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/server/server.h"
#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"
#include "sim/measure.h"
#include "sim/sim_vendor.h"
#include "sim/work_dir.h"

namespace henbtrust {

namespace {

namespace fs = std::filesystem;

constexpr char kVersion[] = "2.0.0";
constexpr size_t kSerialBytes = 40;  // hex of a 128-bit serial, with room
// Devices whose evidence is with the PVE and whose answer has not come back:
// as many as a server's connections would hold, so that the store commits
// them together.
constexpr int kMaxInFlight = 256;

std::string DeviceId(size_t index) {
  char id[32];
  std::snprintf(id, sizeof id, "henb-%07zu", index + 1);
  return id;
}

}  // namespace

struct CompactFleet::Impl {
  CompactFleetOptions options;
  std::optional<ServerOptions> server_options;
  std::unique_ptr<Store> store;
  std::unique_ptr<Server> server;
  std::optional<sim::SimManufacturer> manufacturer;
  EventLog plan = EventLog::NewCryptoAgile({HashAlg::kSha256});  // every device's boot
  // The fleet's table: device i's TrE state at [i * state_bytes, ...), its
  // certificate's serial (hex, NUL-padded) at [i * kSerialBytes, ...).
  size_t state_bytes = 0;
  std::vector<uint8_t> states;
  std::vector<char> serials;

  Result<HttpResponse> Serve(const HttpRequest& request, double* pve_cpu_us) const {
    PveService* pve = server->pve();
    const double before = sim::ThreadCpuMicros();
    HttpResponse answer = pve->Handle(request);
    *pve_cpu_us += sim::ThreadCpuMicros() - before;
    return answer;
  }

  // Device `i`: a TrE, its EK certified by the factory, enrolled.
  Status EnrollOne(size_t i, double* pve_cpu_us) {
    const std::string id = DeviceId(i);
    HENB_ASSIGN_OR_RETURN(SoftTre tre, SoftTre::Create());
    HENB_ASSIGN_OR_RETURN(auto ek, ParseTpmPublic(tre.EkPublic()));
    HENB_ASSIGN_OR_RETURN(Certificate ek_cert, IssueEkCertificate(ek.key, manufacturer->key,
                                                                  manufacturer->ca, id + " EK"));
    InProcessChannel channel(
        [this, pve_cpu_us](const HttpRequest& r) { return Serve(r, pve_cpu_us); }, PeerIdentity{});
    const EnrollmentRequest request{id,       sim::kModel,     sim::kReleaseId,
                                    kVersion, ek_cert.ToDer(), ""};
    HENB_ASSIGN_OR_RETURN(DeviceCredentials creds, henbtrust::Enroll(channel, tre, request));
    HENB_ASSIGN_OR_RETURN(Certificate cert, Certificate::FromPem(creds.certificate_pem));
    const std::string serial = cert.SerialHex();
    const Bytes state = tre.SaveState();
    if (state.size() != state_bytes || serial.size() >= kSerialBytes) {
      return Error(ErrorCode::kInternal, id + ": a TrE state or serial of an unexpected size");
    }
    std::memcpy(&states[i * state_bytes], state.data(), state_bytes);
    std::memcpy(&serials[i * kSerialBytes], serial.data(), serial.size());
    return OkStatus();
  }

  // Device `i` boots (its TrE measures the shared plan), fetches a nonce and
  // quotes; its evidence goes to the PVE as a server hands it a push
  // (HandleAsync), and `done` gets the verdict once the store has committed
  // the result, so that commits gather many devices' results.
  Status AttestOne(size_t i, double* pve_cpu_us, std::function<void(Result<bool>)> done) {
    HENB_ASSIGN_OR_RETURN(SoftTre tre,
                          SoftTre::LoadUnchecked(ByteView(&states[i * state_bytes], state_bytes)));
    for (const Event& e : plan.events()) HENB_TRY(tre.Extend(e));
    PeerIdentity peer{true,
                      true,
                      "",
                      DeviceId(i),
                      std::string(kRoleDevice),
                      {},
                      std::string(&serials[i * kSerialBytes])};
    HttpRequest request{"POST", "/v1/nonces", "application/json", "", "{}", std::move(peer)};
    PveService* pve = server->pve();
    double before = sim::ThreadCpuMicros();
    HttpResponse issued = pve->Handle(request);
    *pve_cpu_us += sim::ThreadCpuMicros() - before;
    if (issued.status != 200) return PveRefusal("nonce", issued);
    HENB_ASSIGN_OR_RETURN(PushNonce nonce, NonceFromAnswer(issued.body));
    HENB_ASSIGN_OR_RETURN(request.body, EvidenceJson(tre, nonce.nonce, nonce.selection));
    request.target = "/v1/evidence";
    // What the TrE keeps goes back to the table: its clock moved on, and the
    // next Load counts a power cycle, so that the PVE sees the TPM clock
    // only ever move forward.
    const Bytes state = tre.SaveState();
    std::memcpy(&states[i * state_bytes], state.data(), state_bytes);
    before = sim::ThreadCpuMicros();
    pve->HandleAsync(request, [done = std::move(done)](const HttpResponse& answer) {
      if (answer.status != 200) return done(PveRefusal("appraisal", answer));
      auto result = DecodeAttestationResult(answer.body);
      if (!result.ok()) return done(result.error());
      done(result->status == "affirming");
    });
    *pve_cpu_us += sim::ThreadCpuMicros() - before;
    return OkStatus();
  }

  // `work(i, cpu, done)` for every device, on options.threads threads;
  // `work` calls `done` with the device's verdict, at once or later from
  // another thread, or fails before it has handed the device on. At most
  // kMaxInFlight devices are between the two.
  template <typename Work>
  FleetPass Pass(const char* what, Work work) {
    FleetPass pass;
    pass.devices = options.devices;
    std::atomic<size_t> next{0};
    std::atomic<int64_t> ok{0};
    std::atomic<int64_t> failed{0};
    std::mutex mu;
    std::counting_semaphore<kMaxInFlight> in_flight(kMaxInFlight);
    double cpu_total = 0;
    const auto n = static_cast<size_t>(options.devices);
    const size_t tenth = std::max<size_t>(1, n / 10);
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < std::max(1, options.threads); ++t) {
      threads.emplace_back([&] {
        double cpu = 0;
        for (size_t i = next++; i < n; i = next++) {
          in_flight.acquire();
          auto done = [&, i](const Result<bool>& r) {
            if (r.ok() && *r) {
              ++ok;
            } else {
              ++failed;
              const std::lock_guard<std::mutex> lock(mu);
              if (pass.first_failure.empty()) {
                pass.first_failure = DeviceId(i) + ": " +
                                     (r.ok() ? std::string("not affirming") : r.error().ToString());
              }
            }
            in_flight.release();
          };
          if (auto st = work(i, &cpu, done); !st.ok()) done(st.error());
          if ((i + 1) % tenth == 0 && options.progress) {
            const std::lock_guard<std::mutex> lock(mu);
            options.progress(std::string(what) + " " + std::to_string(i + 1) + " of " +
                             std::to_string(n));
          }
        }
        const std::lock_guard<std::mutex> lock(mu);
        cpu_total += cpu;
      });
    }
    for (auto& t : threads) t.join();
    // Every answer is in once every slot is free again.
    for (int k = 0; k < kMaxInFlight; ++k) in_flight.acquire();
    pass.wall_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    pass.succeeded = ok;
    pass.failed = failed;
    pass.pve_cpu_us = cpu_total;
    return pass;
  }
};

CompactFleet::CompactFleet(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompactFleet::~CompactFleet() = default;

Result<std::unique_ptr<CompactFleet>> CompactFleet::Create(const CompactFleetOptions& options) {
  if (options.devices < 1) return Error(ErrorCode::kInvalidArgument, "a fleet needs a device");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  HENB_TRY(sim::PrepareWorkDir(options.work_dir));
  const std::string server_dir = options.work_dir + "/server";
  HENB_TRY(InitServerDirectory(server_dir, {"localhost"}));
  HENB_ASSIGN_OR_RETURN(ServerOptions server_options, LoadServerDirectory(server_dir));
  HENB_ASSIGN_OR_RETURN(sim::SimManufacturer manufacturer, sim::SimManufacturer::Create());
  server_options.pve.manufacturer_cas = {manufacturer.ca};
  server_options.drive_interval = std::chrono::milliseconds(0);
  impl->manufacturer.emplace(std::move(manufacturer));
  HENB_ASSIGN_OR_RETURN(impl->store, OpenStore(server_options.store));
  impl->server_options.emplace(std::move(server_options));
  HENB_ASSIGN_OR_RETURN(impl->server, Server::Open(*impl->server_options, *impl->store));
  HENB_ASSIGN_OR_RETURN(sim::SimVendor vendor, sim::SimVendor::Create());
  HENB_ASSIGN_OR_RETURN(
      std::string bundle,
      vendor.MakeRelease(options.work_dir + "/releases", kVersion, 2,
                         Env::Default()->NowUnixSeconds() + int64_t{2} * 365 * 86'400));
  if (auto imported = impl->server->oam().ImportRelease(bundle, vendor.trust(), "sim:vendor");
      !imported.ok()) {
    return imported.error();
  }
  HENB_ASSIGN_OR_RETURN(BundleHeader header, ReadBundleHeader(bundle));
  impl->plan = PlanEventLog(header.manifest);
  HENB_ASSIGN_OR_RETURN(SoftTre probe, SoftTre::Create());
  impl->state_bytes = probe.SaveState().size();
  const auto n = static_cast<size_t>(options.devices);
  impl->states.assign(n * impl->state_bytes, 0);
  impl->serials.assign(n * kSerialBytes, '\0');
  return std::unique_ptr<CompactFleet>(new CompactFleet(std::move(impl)));
}

Result<FleetPass> CompactFleet::Enroll() {
  return impl_->Pass("enrolled", [this](size_t i, double* cpu, const auto& done) {
    Status st = impl_->EnrollOne(i, cpu);
    if (st.ok()) done(true);
    return st;
  });
}

Result<FleetPass> CompactFleet::Revalidate() {
  return impl_->Pass("appraised", [this](size_t i, double* cpu, const auto& done) {
    return impl_->AttestOne(i, cpu, done);
  });
}

double CompactFleet::TableBytesPerDevice() const {
  return static_cast<double>(impl_->states.capacity() + impl_->serials.capacity()) /
         impl_->options.devices;
}

double CompactFleet::StoreBytesPerDevice() const {
  return static_cast<double>(
             sim::SqliteStoreBytes(impl_->options.work_dir + "/server/henbtrust.db")) /
         impl_->options.devices;
}

}  // namespace henbtrust
