// Load generator for a running `henbtrust pve serve`: plays a fleet of
// soft-TrE devices over HTTPS with keep-alive and mutual TLS, each appraisal
// a push (POST /v1/nonces, then POST /v1/evidence with a fresh quote).
//
//   pve_load setup --work W            makes a test TPM manufacturer CA in W
//   pve_load run --work W --pve-dir D --port P --bundle B [--devices 1000]
//                [--seconds 10] [--threads 8]
//
// `run` enrolls every device (EK certificate from W's CA, credential
// activation) and then appraises for the given time. It prints one line:
//   devices=N appraisals=N seconds=S rate=R p50_ms=X p99_ms=Y failures=F
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include "henbtrust/agent/agent.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"

namespace henbtrust {
namespace {

using Clock = std::chrono::steady_clock;

int Fail(const Error& e) {
  std::cerr << "pve_load: " << e.ToString() << "\n";
  return 2;
}

int Setup(const std::string& work) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  if (!key.ok()) return Fail(key.error());
  CertificateSpec spec;
  spec.common_name = "Load-test TPM Manufacturer";
  spec.is_ca = true;
  auto ca = IssueCertificate(spec, key->Public(), *key, nullptr);
  if (!ca.ok()) return Fail(ca.error());
  if (auto st = WriteFileAtomic(work + "/manufacturer-ca.pem", AsBytes(ca->ToPem())); !st.ok())
    return Fail(st.error());
  if (auto st = WriteFileAtomic(work + "/manufacturer-ca.key", AsBytes(key->ToPem()), 0600);
      !st.ok())
    return Fail(st.error());
  return 0;
}

struct Device {
  std::unique_ptr<SoftTre> tre;
  std::unique_ptr<HttpClient> client;
};

struct RunArgs {
  std::string work, pve_dir, bundle, host = "127.0.0.1";
  uint16_t port = 0;
  int devices = 1000;
  int threads = 8;
  double seconds = 10;
  bool with_log = true;
};

int Run(const RunArgs& a) {
  // One connection per device, plus files: raise the descriptor limit.
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  auto ca_pem = ReadTextFile(a.pve_dir + "/ca.pem");
  auto mfr_pem = ReadTextFile(a.work + "/manufacturer-ca.pem");
  auto mfr_key_pem = ReadTextFile(a.work + "/manufacturer-ca.key");
  if (!ca_pem.ok() || !mfr_pem.ok() || !mfr_key_pem.ok()) {
    return Fail(Error(ErrorCode::kIo, "run `pve_load setup` and `henbtrust pve init` first"));
  }
  auto mfr = Certificate::FromPem(*mfr_pem);
  auto mfr_key = PrivateKey::FromPem(*mfr_key_pem);
  auto header = ReadBundleHeader(a.bundle);
  if (!mfr.ok() || !mfr_key.ok()) return Fail(Error(ErrorCode::kMalformed, "manufacturer CA"));
  if (!header.ok()) return Fail(header.error());
  const ReleaseManifest& release = header->manifest;

  // Enroll the fleet, in parallel.
  std::vector<Device> fleet(static_cast<size_t>(a.devices));
  std::atomic<int> next{0}, enroll_failures{0};
  const auto enroll_start = Clock::now();
  auto enroll = [&] {
    for (int i = next++; i < a.devices; i = next++) {
      Device& d = fleet[static_cast<size_t>(i)];
      d.tre = std::make_unique<SoftTre>(*SoftTre::Create());
      for (const auto& c : release.components)
        (void)d.tre->MeasureComponent(c.pcr, {c.id, c.version}, c.sha256);
      CertificateSpec spec;
      spec.common_name = "EK";
      auto ek = ParseTpmPublic(d.tre->EkPublic());
      auto cert = IssueCertificate(spec, ek->key, *mfr_key, &*mfr);
      char id[32];
      std::snprintf(id, sizeof id, "load-%06d", i);
      EnrollmentRequest req{
          id, release.hardware_models.front(), release.release_id, release.version, cert->ToDer(),
          ""};
      auto creds = Enroll(a.host, a.port, *ca_pem, *d.tre, req);
      if (!creds.ok()) {
        if (enroll_failures++ == 0) std::cerr << "enrollment: " << creds.error().ToString() << "\n";
        continue;
      }
      auto client = HttpClient::Connect(a.host, a.port, DeviceTls(*creds));
      if (!client.ok()) {
        if (enroll_failures++ == 0) std::cerr << "connect: " << client.error().ToString() << "\n";
        continue;
      }
      d.client = std::move(client).value();
    }
  };
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < a.threads; ++t) pool.emplace_back(enroll);
    for (auto& t : pool) t.join();
  }
  if (enroll_failures > 0) {
    std::cerr << enroll_failures << " devices failed to enroll\n";
    return 1;
  }
  const double enroll_seconds = std::chrono::duration<double>(Clock::now() - enroll_start).count();
  std::cerr << "enrolled " << a.devices << " devices in " << enroll_seconds << " s\n";

  // Appraise: each thread cycles through its own share of the fleet (a
  // device's TrE and connection are used by one thread only).
  if (a.threads > a.devices) {
    std::cerr << "--threads must not exceed --devices\n";
    return 2;
  }
  std::atomic<bool> stop{false};
  std::atomic<int64_t> failures{0};
  std::vector<std::vector<float>> latencies(static_cast<size_t>(a.threads));
  auto work = [&](int t) {
    auto& lat = latencies[static_cast<size_t>(t)];
    lat.reserve(200'000);
    for (size_t i = static_cast<size_t>(t); !stop; i += static_cast<size_t>(a.threads)) {
      if (i >= fleet.size()) i = static_cast<size_t>(t);
      Device& d = fleet[i];
      const auto start = Clock::now();
      auto r = AttestOnce(*d.client, *d.tre, a.with_log);
      if (!r.ok() || r->status != 200 ||
          r->body.find("\"status\":\"affirming\"") == std::string::npos) {
        if (failures++ == 0) {
          std::cerr << "appraisal failed: "
                    << (r.ok() ? std::to_string(r->status) + " " + r->body.substr(0, 300)
                               : r.error().ToString())
                    << "\n";
        }
        continue;
      }
      lat.push_back(std::chrono::duration<float, std::milli>(Clock::now() - start).count());
    }
  };
  const auto start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < a.threads; ++t) pool.emplace_back(work, t);
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  stop = true;
  for (auto& t : pool) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<float> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
  };
  std::printf(
      "devices=%d appraisals=%zu seconds=%.2f rate=%.1f p50_ms=%.2f p99_ms=%.2f failures=%lld\n",
      a.devices, all.size(), elapsed, static_cast<double>(all.size()) / elapsed, pct(0.50),
      pct(0.99), static_cast<long long>(failures.load()));
  return failures > 0 ? 1 : 0;
}

}  // namespace
}  // namespace henbtrust

int main(int argc, char** argv) {
  using namespace henbtrust;
  CLI::App app{"Load generator for henbtrust pve serve: a fleet of soft-TrE devices over HTTPS"};
  app.require_subcommand(1);
  std::string setup_work;
  CLI::App* setup = app.add_subcommand("setup", "Create a test TPM manufacturer CA in --work");
  setup->add_option("--work", setup_work, "work directory")->required();
  RunArgs a;
  CLI::App* run = app.add_subcommand("run", "Enroll the fleet, then appraise for --seconds");
  run->add_option("--work", a.work, "work directory of `setup`")->required();
  run->add_option("--pve-dir", a.pve_dir, "the PVE directory (for its CA)")->required();
  run->add_option("--bundle", a.bundle, "the release bundle the devices run")->required();
  run->add_option("--host", a.host, "PVE address")->capture_default_str();
  run->add_option("--port", a.port, "PVE port")->required();
  run->add_option("--devices", a.devices, "fleet size")->capture_default_str();
  run->add_option("--threads", a.threads, "concurrent appraisals")->capture_default_str();
  run->add_option("--seconds", a.seconds, "duration of the appraisal phase")->capture_default_str();
  bool no_log = false;
  run->add_flag("--no-log", no_log, "send quotes without the event log");
  CLI11_PARSE(app, argc, argv);
  a.with_log = !no_log;
  if (*setup) return Setup(setup_work);
  return Run(a);
}
