// A PVE on loopback HTTPS for tests: a fresh PVE directory (CA, server and
// role certificates, EAR key), a test manufacturer CA that certifies soft-TrE
// EKs, the reference release in the store, and an injectable clock.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <optional>

#include "henbtrust/agent/agent.h"
#include "henbtrust/core/file.h"
#include "henbtrust/net/enrollment.h"
#include "henbtrust/pve/service.h"
#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"
#include "release/release_fixture.h"
#include "support/test_support.h"

namespace henbtrust::testing {

inline std::string ReadText(const std::string& path) { return ReadTextFile(path).value(); }

// The body of POST /v1/enrollments/{id}/activation as a device sends it:
// the challenge's `token`, the proof over `secret` for the request `sent`,
// and the signature with `tls_key` over the same.
inline std::string ActivationBody(const std::string& token, ByteView secret,
                                  const EnrollmentFields& sent, const PrivateKey& tls_key) {
  const Bytes signature =
      tls_key.Sign(SignatureScheme::kEcdsa, HashAlg::kSha256, ActivationContext(sent)).value();
  return nlohmann::json{{"enrollment_token", token},
                        {"proof", Base64Encode(ActivationProof(secret, sent))},
                        {"tls_signature", Base64Encode(signature)}}
      .dump();
}

class PveHarness {
 public:
  // `store`: SQLite in the harness directory when null.
  // `serve`: start an in-process server (else the directory is for other processes).
  explicit PveHarness(std::unique_ptr<Store> custom_store = nullptr,
                      const std::vector<std::string>& manufacturer_ca_pems = {},
                      bool serve = true) {
    EXPECT_TRUE(InitPveDirectory(dir.File("pve"), {"127.0.0.1"}).ok());
    auto loaded = LoadPveDirectory(dir.File("pve"));
    EXPECT_TRUE(loaded.ok());
    pve.emplace(std::move(loaded).value());
    auto key = PrivateKey::Generate(KeyType::kEcP256);
    mfr_key.emplace(*key);
    CertificateSpec spec;
    spec.common_name = "Test TPM Manufacturer Root";
    spec.is_ca = true;
    mfr_ca.emplace(*IssueCertificate(spec, mfr_key->Public(), *mfr_key, nullptr));
    pve->config.manufacturer_cas.push_back(*mfr_ca);
    for (const auto& pem : manufacturer_ca_pems) {
      for (auto& c : *Certificate::AllFromPem(pem)) pve->config.manufacturer_cas.push_back(c);
    }
    pve->config.now = [this] { return now.load(); };
    pve->config.refused_certificates = refused;
    store = custom_store ? std::move(custom_store) : OpenSqliteStore(dir.File("pve.db")).value();
    EXPECT_TRUE(
        store
            ->PutManifest({reference.release_id, reference.version, *EncodeManifest(reference), ""})
            .ok());
    EXPECT_TRUE(WriteFileAtomic(dir.File("manufacturer-ca.pem"), AsBytes(mfr_ca->ToPem())).ok());
    if (serve) Start();
  }

  void Start() {
    service = std::make_unique<PveService>(*store, pve->config);
    HttpServerOptions options;
    options.max_body_bytes = 256 << 10;
    options.refused_certificates = refused;
    // As `henbtrust pve serve` runs it: pushes are answered once the store commits.
    auto s = HttpServer::StartAsync(
        options, pve->server_tls,
        [this](const HttpRequest& r, HttpResponder respond) { service->HandleAsync(r, respond); });
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    server = std::move(s).value();
  }

  uint16_t port() const { return server ? server->port() : port_override; }
  uint16_t port_override = 0;  // the port of an out-of-process PVE, when not serving
  std::string CaPem() const { return ReadText(dir.File("pve/ca.pem")); }

  // A client with the identity of a role file in the PVE directory
  // ("operator", "segw"), or anonymous with an empty name.
  TlsConfig RoleTls(const std::string& name) const {
    if (name.empty()) return {"", "", CaPem()};
    return {ReadText(dir.File("pve/" + name + ".pem")), ReadText(dir.File("pve/" + name + ".key")),
            CaPem()};
  }
  std::unique_ptr<HttpClient> Client(const TlsConfig& tls) const {
    auto c = HttpClient::Connect("127.0.0.1", port(), tls);
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    return c.ok() ? std::move(c).value() : nullptr;
  }

  // An EK certificate for `tre`'s EK from the test manufacturer.
  Bytes EkCertificate(const Tre& tre) const {
    auto ek = ParseTpmPublic(tre.EkPublic());
    return IssueEkCertificate(ek->key, *mfr_key, *mfr_ca)->ToDer();
  }

  // Measures the reference release into `tre`, with `replaced` images instead.
  void Boot(Tre& tre, const std::map<std::string, std::string>& replaced = {}) {
    ASSERT_TRUE(tre.Reboot().ok());
    for (const auto& c : reference.components) {
      auto it = replaced.find(c.id);
      const Bytes digest = it == replaced.end() ? c.sha256 : Sha256(AsBytes(it->second));
      ASSERT_TRUE(tre.MeasureComponent(c.pcr, {c.id, c.version}, digest).ok());
    }
  }

  EnrollmentRequest Request(const std::string& id, const Tre& tre,
                            const std::string& agent = "") const {
    return {id, "femto-a1", reference.release_id, reference.version, EkCertificate(tre), agent};
  }

  // A soft-TrE device booted into the reference release and enrolled.
  struct Device {
    std::string id;
    std::unique_ptr<SoftTre> tre;
    DeviceCredentials credentials;
    std::unique_ptr<HttpClient> client;
  };
  Device Enrolled(const std::string& id) {
    Device d;
    d.id = id;
    d.tre = std::make_unique<SoftTre>(*SoftTre::Create());
    Boot(*d.tre);
    auto creds = Enroll("127.0.0.1", port(), CaPem(), *d.tre, Request(id, *d.tre));
    EXPECT_TRUE(creds.ok()) << creds.error().ToString();
    if (creds.ok()) {
      d.credentials = *creds;
      d.client = Client(DeviceTls(d.credentials));
    }
    return d;
  }

  TempDir dir;
  std::optional<PveDirectory> pve;
  std::optional<PrivateKey> mfr_key;
  std::optional<Certificate> mfr_ca;
  ReleaseFixture fixture;
  ReleaseManifest reference = fixture.Manifest(ReleaseFixture::DefaultImages("v2"));
  std::atomic<int64_t> now{fixture.now};  // the PVE's clock, Unix seconds
  std::unique_ptr<Store> store;
  // The server's refused certificates, which the PVE fills as it
  // decommissions devices (as `henbtrust pve serve` runs it, without the
  // reload from the store).
  std::shared_ptr<RefusedCertificates> refused = std::make_shared<RefusedCertificates>();
  std::unique_ptr<PveService> service;
  std::unique_ptr<HttpServer> server;
};

}  // namespace henbtrust::testing
