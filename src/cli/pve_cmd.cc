// henbtrust pve: set up, run and feed the Platform Validation Entity.
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "henbtrust/core/file.h"
#include "henbtrust/pve/service.h"
#include "henbtrust/release/bundle.h"
#include "henbtrust/server/refused_certificate_sync.h"

namespace henbtrust::cli {

namespace {

struct ServeArgs {
  std::string dir;
  std::string store;
  std::string listen = "127.0.0.1:8443";
  std::vector<std::string> manufacturer_cas;
  std::string port_file;
  int threads = 0;
  int64_t nonce_ttl = 120;
  int64_t result_max_age = 86'400;
};

int RunInit(const std::string& dir, const std::vector<std::string>& hosts) {
  if (auto st = InitPveDirectory(dir, hosts); !st.ok()) return Fail(st.error());
  if (auto st = CreateAuditKey(dir); !st.ok()) return Fail(st.error());
  std::cout
      << "PVE directory " << dir << " created:\n"
      << "  ca.pem, ca.key            the server CA (issues only the server certificate)\n"
      << "  client-ca.pem, .key       the client CA (device certificates at enrollment, roles)\n"
      << "  server.pem, server.key    TLS server identity for:";
  for (const auto& h : hosts) std::cout << " " << h;
  std::cout << "\n"
            << "  operator.*, segw.*        client identities for the OAM/operators and the SeGW\n"
            << "  pve-client.*              the PVE's identity towards device agents (pull)\n"
            << "  ear.key, ear.pub          signs attestation results (ES256)\n"
            << "  audit.key, audit.pub      signs the audit log's checkpoints\n"
            << "Next: henbtrust pve import-release --dir " << dir
            << " --trust-root ROOT BUNDLE, then henbtrust pve serve --dir " << dir
            << " --manufacturer-ca CA.pem\n";
  return kExitOk;
}

int RunServe(const ServeArgs& a) {
  auto dir = LoadPveDirectory(a.dir);
  if (!dir.ok()) return Fail(dir.error().WithContext("PVE directory " + a.dir));
  PveConfig config = dir->config;
  config.nonce_ttl = a.nonce_ttl;
  config.result_max_age = a.result_max_age;
  auto cas = LoadCertificates(a.manufacturer_cas);
  if (!cas.ok()) return Fail(cas.error());
  config.manufacturer_cas = std::move(cas).value();
  if (config.manufacturer_cas.empty()) {
    std::cerr << "warning: no --manufacturer-ca: every enrollment will be refused\n";
  }
  const std::string location = a.store.empty() ? a.dir + "/pve.db" : a.store;
  auto store = OpenStore(location);
  if (!store.ok()) return Fail(store.error());
  auto endpoint = ParseHostPort(a.listen);
  if (!endpoint.ok()) return Fail(endpoint.error());
  auto anchor = OpenServiceAuditAnchor(a.dir, "henbtrust pve");
  if (!anchor.ok()) return Fail(anchor.error());
  std::string anchor_error;  // the anchoring thread's, then this one's after it ended

  // Signals are taken by WaitForStopSignal below, not by the server threads.
  BlockStopSignals();

  // Decommissioned devices' certificates, refused at the TLS handshake: read
  // from the store now and every 5 s, and added at once by this PVE.
  auto refused = std::make_shared<RefusedCertificates>();
  auto refused_sync =
      RefusedCertificateSync::Start(**store, refused, std::chrono::milliseconds(5'000));
  if (!refused_sync.ok()) return Fail(refused_sync.error());
  config.refused_certificates = refused;
  PveService service(**store, config);
  HttpServerOptions options;
  options.refused_certificates = refused;
  options.address = endpoint->first;
  options.port = endpoint->second;
  options.threads = a.threads > 0
                        ? a.threads
                        : static_cast<int>(std::max(4u, 2 * std::thread::hardware_concurrency()));
  auto server = HttpServer::StartAsync(options, dir->server_tls,
                                       [&service](const HttpRequest& r, HttpResponder respond) {
                                         service.HandleAsync(r, std::move(respond));
                                       });
  if (!server.ok()) return Fail(server.error());
  if (auto st = WritePortFile(a.port_file, (*server)->port()); !st.ok()) return Fail(st.error());
  std::cerr << "henbtrust pve: serving https://" << options.address << ":" << (*server)->port()
            << " with " << options.threads << " threads, store " << (*store)->Backend()
            << "; SIGINT or SIGTERM stops\n";
  // The audit log's head is anchored every 500 ms, and once more at the end.
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread anchoring([&] {
    std::unique_lock<std::mutex> lock(mu);
    while (!cv.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping; })) {
      lock.unlock();
      AdvanceAuditAnchor(*anchor, **store, "henbtrust pve", anchor_error);
      lock.lock();
    }
  });
  const int sig = WaitForStopSignal();
  std::cerr << "henbtrust pve: signal " << sig << ", finishing requests in flight\n";
  {
    std::lock_guard<std::mutex> lock(mu);
    stopping = true;
  }
  cv.notify_all();
  anchoring.join();
  (*server)->Stop();
  AdvanceAuditAnchor(*anchor, **store, "henbtrust pve", anchor_error);
  return kExitOk;
}

int RunImport(const std::string& dir, const std::string& store_location,
              const std::string& trust_path, const std::vector<std::string>& bundles) {
  auto root = LoadTrustRoot(trust_path);
  if (!root.ok()) return Fail(root.error());
  auto store = OpenStore(store_location.empty() ? dir + "/pve.db" : store_location);
  if (!store.ok()) return Fail(store.error());
  for (const auto& path : bundles) {
    // The whole bundle is verified: the PVE keeps only the manifest, but
    // refuses one whose payload does not match it.
    BundlePolicy policy;
    policy.trust = &*root;
    policy.now = UnixSeconds();
    auto manifest = VerifyBundle(path, policy);
    if (!manifest.ok()) return Verdict(manifest.error().WithContext(path));
    auto bytes = EncodeManifest(*manifest);
    if (!bytes.ok()) return Fail(bytes.error());
    // Importing a release again keeps its revocation.
    auto existing = (*store)->GetManifest(manifest->release_id, manifest->version);
    if (!existing.ok()) return Fail(existing.error());
    const std::string revoked = *existing ? (*existing)->revoked_reason : std::string();
    if (auto st = (*store)->PutManifest({manifest->release_id, manifest->version, *bytes, revoked});
        !st.ok()) {
      return Fail(st.error());
    }
    if (auto st = (*store)->AppendAudit(
            {0,
             UnixSeconds(),
             "operator:cli",
             "release:" + manifest->release_id + "/" + manifest->version,
             "release imported",
             "vendor signatures verified; " + std::to_string(manifest->components.size()) +
                 " components" + (revoked.empty() ? "" : "; stays revoked: " + revoked),
             {},
             {}});
        !st.ok()) {
      return Fail(st.error());
    }
    std::cout << "imported " << manifest->release_id << " " << manifest->version << " ("
              << manifest->components.size() << " components, expected TIM "
              << HexEncode(ExpectedTim(*manifest)) << ")\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterPveCommands(CLI::App& app, int* exit_code) {
  CLI::App* pve = app.add_subcommand(
      "pve", "The Platform Validation Entity: enrollment, appraisal, attestation results");
  pve->require_subcommand(1);

  auto init_dir = std::make_shared<std::string>();
  auto hosts = std::make_shared<std::vector<std::string>>();
  CLI::App* init = pve->add_subcommand(
      "init", "Create a PVE directory: CA, TLS and role certificates, attestation-result key");
  init->add_option("--dir", *init_dir, "directory to create")->required();
  init->add_option("--host", *hosts, "name or address the server certificate names (repeatable)")
      ->default_val(std::vector<std::string>{"127.0.0.1", "localhost"});
  OnRun(init, exit_code, [init_dir, hosts] { return RunInit(*init_dir, *hosts); });

  auto a = std::make_shared<ServeArgs>();
  CLI::App* serve =
      pve->add_subcommand("serve", "Serve the PVE API over HTTPS (TLS 1.3, mutual TLS)");
  serve->add_option("--dir", a->dir, "PVE directory (henbtrust pve init)")->required();
  serve->add_option("--store", a->store,
                    "sqlite:PATH or postgres:CONNINFO (default: sqlite in DIR/pve.db); several "
                    "instances share one PostgreSQL database");
  serve->add_option("--listen", a->listen, "address:port (port 0: any free port)")
      ->capture_default_str();
  serve->add_option("--manufacturer-ca", a->manufacturer_cas,
                    "PEM file of TPM manufacturer CAs that EK certificates must chain to "
                    "(repeatable)");
  serve->add_option("--port-file", a->port_file, "write the port listened on to this file");
  serve->add_option("--threads", a->threads, "server threads (default: 2 per core, at least 4)");
  serve->add_option("--nonce-ttl", a->nonce_ttl, "seconds a nonce stays valid")
      ->capture_default_str();
  serve
      ->add_option("--result-max-age", a->result_max_age,
                   "seconds an affirming result admits a device")
      ->capture_default_str();
  OnRun(serve, exit_code, [a] { return RunServe(*a); });

  auto dir = std::make_shared<std::string>();
  auto store = std::make_shared<std::string>();
  auto trust = std::make_shared<std::string>();
  auto bundles = std::make_shared<std::vector<std::string>>();
  CLI::App* import = pve->add_subcommand(
      "import-release",
      "Verify vendor-signed bundles against the trust root and keep their manifests as references");
  import->add_option("--dir", *dir, "PVE directory (for its default store)");
  import->add_option("--store", *store, "sqlite:PATH or postgres:CONNINFO");
  import->add_option("--trust-root", *trust, "the vendor trust root")->required();
  import->add_option("bundles", *bundles, "release bundles")->required();
  OnRun(import, exit_code, [dir, store, trust, bundles] {
    if (dir->empty() && store->empty()) return UsageError("give --dir or --store");
    return RunImport(*dir, *store, *trust, *bundles);
  });
}

}  // namespace henbtrust::cli
