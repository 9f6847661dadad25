// henbtrust sim fleet: a fleet of simulated H(e)NBs in one process, each a
// soft TrE with A/B slots and the update agent, for demonstrations and
// load. A simulated factory issues each EK certificate from a manufacturer
// CA; each device then enrolls with the server and polls it until the
// fleet is idle.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <set>
#include <thread>

#include "cli/commands.h"
#include "henbtrust/agent/agent.h"
#include "henbtrust/agent/update_agent.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"

namespace henbtrust::cli {

namespace {

struct FleetArgs {
  std::string dir, server = "127.0.0.1:8443", pve, ca, oam_key, trust_root, bundle;
  std::string manufacturer_ca, manufacturer_key, ready_file, prefix = "henb";
  int count = 10;
  int interval_ms = 200;
  int timeout_s = 300;
  std::vector<std::string> tamper, implant, lie;
};

struct SimDevice {
  std::string id;
  std::unique_ptr<Device> device;
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<HttpClient> pve_client;  // when the PVE is not the server
  std::unique_ptr<UpdateAgent> agent;
  std::string last;  // the last action that did something
};

int RunFleet(const FleetArgs& a) {
  auto ca_pem = ReadTextFile(a.ca);
  auto oam_pem = ReadTextFile(a.oam_key);
  auto mfr_pem = ReadTextFile(a.manufacturer_ca);
  auto mfr_key_pem = ReadTextFile(a.manufacturer_key);
  for (const auto* r : {&ca_pem, &oam_pem, &mfr_pem, &mfr_key_pem})
    if (!r->ok()) return Fail(r->error());
  auto oam_key = PublicKey::FromPem(*oam_pem);
  auto mfr = Certificate::FromPem(*mfr_pem);
  auto mfr_key = PrivateKey::FromPem(*mfr_key_pem);
  auto root = LoadTrustRoot(a.trust_root);
  auto header = ReadBundleHeader(a.bundle);
  auto endpoint = ParseHostPort(a.server);
  auto pve_endpoint = ParseHostPort(a.pve.empty() ? a.server : a.pve);
  if (!pve_endpoint.ok()) return Fail(pve_endpoint.error());
  if (!oam_key.ok()) return Fail(oam_key.error().WithContext(a.oam_key));
  if (!mfr.ok()) return Fail(mfr.error().WithContext(a.manufacturer_ca));
  if (!mfr_key.ok()) return Fail(mfr_key.error().WithContext(a.manufacturer_key));
  if (!root.ok()) return Fail(root.error());
  if (!header.ok()) return Fail(header.error());
  if (!endpoint.ok()) return Fail(endpoint.error());
  const ReleaseManifest& factory = header->manifest;
  const std::string model = factory.hardware_models.front();
  const std::set<std::string> tamper(a.tamper.begin(), a.tamper.end());
  const std::set<std::string> implant(a.implant.begin(), a.implant.end());
  const std::set<std::string> lie(a.lie.begin(), a.lie.end());

  std::vector<SimDevice> fleet;
  for (int i = 1; i <= a.count; ++i) {
    SimDevice d;
    char id[64];
    std::snprintf(id, sizeof id, "%s-%04d", a.prefix.c_str(), i);
    d.id = id;
    const std::string dir = a.dir + "/" + d.id;
    std::filesystem::remove_all(dir);
    auto tre = SoftTre::Create();
    if (!tre.ok()) return Fail(tre.error());
    auto device = Device::Provision(dir, model, a.bundle, *root, UnixSeconds(),
                                    std::make_unique<SoftTre>(std::move(tre).value()));
    if (!device.ok()) return Fail(device.error().WithContext(d.id));
    d.device = std::move(device).value();
    if (auto boot = d.device->Boot(); !boot.ok()) return Fail(boot.error().WithContext(d.id));
    // The factory's EK certificate.
    auto ek = ParseTpmPublic(d.device->tre().EkPublic());
    if (!ek.ok()) return Fail(ek.error());
    auto ek_cert = IssueEkCertificate(ek->key, *mfr_key, *mfr, d.id + " EK");
    if (!ek_cert.ok()) return Fail(ek_cert.error());
    EnrollmentRequest req{d.id, model, factory.release_id, factory.version, ek_cert->ToDer(), ""};
    auto creds = Enroll(pve_endpoint->first, pve_endpoint->second, *ca_pem, d.device->tre(), req);
    if (!creds.ok()) return Fail(creds.error().WithContext("enrollment of " + d.id));
    auto client = HttpClient::Connect(endpoint->first, endpoint->second, DeviceTls(*creds));
    if (!client.ok()) return Fail(client.error());
    d.client = std::move(client).value();
    if (!a.pve.empty()) {
      auto pve = HttpClient::Connect(pve_endpoint->first, pve_endpoint->second, DeviceTls(*creds));
      if (!pve.ok()) return Fail(pve.error());
      d.pve_client = std::move(pve).value();
    }
    UpdateAgentConfig config;
    config.device_id = d.id;
    config.trust = &*root;
    config.download_dir = dir + "/downloads";
    config.corrupt_next_download = tamper.count(d.id) > 0;
    config.implant_after_install = implant.count(d.id) > 0 || lie.count(d.id) > 0;
    config.lie_in_next_report = lie.count(d.id) > 0;
    d.agent = std::make_unique<UpdateAgent>(*d.client, d.pve_client ? *d.pve_client : *d.client,
                                            *d.device, *oam_key, config);
    fleet.push_back(std::move(d));
  }
  std::cout << "enrolled " << fleet.size() << " simulated devices (soft TrE, release "
            << factory.version << "; EK certificates from " << mfr->SubjectField("CN") << ")"
            << std::endl;
  if (!a.ready_file.empty()) (void)WriteFileAtomic(a.ready_file, AsBytes("ready\n"));

  // Poll until every device has had work and then a whole round is idle.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(a.timeout_s);
  bool worked = false;
  for (;;) {
    bool busy = false;
    for (auto& d : fleet) {
      auto r = d.agent->PollOnce();
      if (!r.ok()) {
        std::cout << "  " << d.id << ": " << r.error().ToString() << std::endl;
        busy = true;
        continue;
      }
      if (*r == "none") continue;
      busy = true;
      if (*r != "wait" && (*r).rfind("attest", 0) != 0) {
        std::cout << "  " << d.id << ": " << *r << std::endl;
      }
    }
    worked = worked || busy;
    if (worked && !busy) break;
    if (std::chrono::steady_clock::now() > deadline) {
      std::cout << "sim fleet: still busy after " << a.timeout_s << " s\n";
      return kExitInvalid;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(a.interval_ms));
  }
  std::map<std::string, int> running;
  for (auto& d : fleet) {
    auto m = d.device->SlotManifest(d.device->boot_control().active);
    ++running[m ? m->version : "?"];
  }
  std::cout << "fleet idle; devices run:";
  for (const auto& [v, n] : running) std::cout << " " << v << " x" << n;
  std::cout << std::endl;
  return kExitOk;
}

}  // namespace

void RegisterSimCommands(CLI::App& app, int* exit_code) {
  CLI::App* sim = app.add_subcommand("sim", "Simulated H(e)NBs for demonstrations and load");
  sim->require_subcommand(1);
  auto a = std::make_shared<FleetArgs>();
  CLI::App* fleet = sim->add_subcommand(
      "fleet",
      "Provision, enroll and run a fleet of soft-TrE devices with update agents until idle");
  fleet->add_option("--dir", a->dir, "where the devices' slots and state go")->required();
  fleet->add_option("--server", a->server, "host:port of henbtrust server (or of henbtrust oam)")
      ->capture_default_str();
  fleet->add_option("--pve", a->pve, "host:port of the PVE, when it is not the server");
  fleet->add_option("--ca", a->ca, "the server's CA (ca.pem of the server directory)")->required();
  fleet->add_option("--oam-key", a->oam_key, "verifies deployment orders (oam.pub)")->required();
  fleet->add_option("--trust-root", a->trust_root, "the vendor trust root")->required();
  fleet->add_option("--bundle", a->bundle, "the factory release every device starts with")
      ->required();
  fleet->add_option("--manufacturer-ca", a->manufacturer_ca, "the simulated factory's CA (PEM)")
      ->required();
  fleet->add_option("--manufacturer-key", a->manufacturer_key, "its private key (PEM)")->required();
  fleet->add_option("--count", a->count, "devices")->capture_default_str();
  fleet->add_option("--prefix", a->prefix, "device ids are PREFIX-0001 ...")->capture_default_str();
  fleet->add_option("--interval-ms", a->interval_ms, "pause between polling rounds")
      ->capture_default_str();
  fleet->add_option("--timeout", a->timeout_s, "seconds before giving up")->capture_default_str();
  fleet->add_option("--ready-file", a->ready_file, "written once every device has enrolled");
  fleet->add_option("--tamper-download", a->tamper,
                    "device whose first download is altered in transit (repeatable)");
  fleet->add_option("--implant", a->implant,
                    "device whose installed image is altered before the trial boot (repeatable)");
  fleet->add_option("--lie", a->lie,
                    "device that also reports 'installed' after falling back (repeatable)");
  OnRun(fleet, exit_code, [a] { return RunFleet(*a); });
}

}  // namespace henbtrust::cli
