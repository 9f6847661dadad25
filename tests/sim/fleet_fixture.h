// The fixture of the fleet simulator's tests: a Server in this process with
// two releases, a simulated TPM manufacturer, and FleetOptions for it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "henbtrust/core/file.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/server/server.h"
#include "henbtrust/sim/fleet.h"
#include "release/release_fixture.h"
#include "support/test_support.h"

namespace henbtrust {

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1_ = fx_.Bundle("v1.bundle", fx_.DefaultImages("v1"), 1, {0, 1}, "1.0");
    v2_ = fx_.Bundle("v2.bundle", fx_.DefaultImages("v2"), 2, {0, 1}, "2.0");
    testing::WriteBytes(tmp_.File("trust-root"), *fx_.root.Sign({fx_.vendor[0], fx_.vendor[1]}));
    // The simulated factory's CA, which the PVE trusts for EK certificates.
    const PrivateKey mfr_key = *PrivateKey::Generate(KeyType::kEcP256);
    CertificateSpec spec;
    spec.common_name = "Fleet-test TPM Manufacturer";
    spec.is_ca = true;
    const Certificate mfr = *IssueCertificate(spec, mfr_key.Public(), mfr_key, nullptr);
    testing::WriteBytes(tmp_.File("mfr.pem"), AsBytes(mfr.ToPem()));
    testing::WriteBytes(tmp_.File("mfr.key"), AsBytes(mfr_key.ToPem()));

    ASSERT_TRUE(InitServerDirectory(dir_, {"127.0.0.1"}).ok());
    auto options = LoadServerDirectory(dir_);
    ASSERT_TRUE(options.ok()) << options.error().ToString();
    options->pve.manufacturer_cas.push_back(mfr);
    options->drive_interval = std::chrono::milliseconds(20);
    tweak_(*options);
    // Requests pass through the test's interception first (none by default).
    options->wrap_handler = [this](AsyncHttpHandler next) -> AsyncHttpHandler {
      return [this, next](const HttpRequest& r, HttpResponder respond) {
        std::optional<HttpResponse> answer;
        {
          std::lock_guard<std::mutex> lock(intercept_mu_);
          if (intercept_) answer = intercept_(r);
        }
        if (answer) return respond(std::move(*answer));
        next(r, std::move(respond));
      };
    };
    auto server = Server::Open(std::move(options).value());
    ASSERT_TRUE(server.ok()) << server.error().ToString();
    server_ = std::move(server).value();
    for (const auto& bundle : {v1_, v2_}) {
      auto imported = server_->oam().ImportRelease(bundle, fx_.root, "operator:test");
      ASSERT_TRUE(imported.ok()) << imported.error().ToString();
    }
    auto started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.error().ToString();
  }

  FleetOptions Options() {
    FleetOptions o;
    o.dir = tmp_.File("fleet");
    o.servers = {"127.0.0.1:" + std::to_string(server_->port())};
    o.ca = dir_ + "/ca.pem";
    o.oam_key = dir_ + "/oam.pub";
    o.manufacturer_ca = tmp_.File("mfr.pem");
    o.manufacturer_key = tmp_.File("mfr.key");
    o.trust_root = tmp_.File("trust-root");
    o.bundle = v1_;
    o.prefix = "sim";
    o.count = 3;
    o.interval = std::chrono::milliseconds(20);
    o.timeout = std::chrono::seconds(120);
    return o;
  }

  // Applied to the server's options before it starts (a subclass's SetUp
  // sets it first).
  std::function<void(ServerOptions&)> tweak_ = [](ServerOptions&) {};
  std::mutex intercept_mu_;
  std::function<std::optional<HttpResponse>(const HttpRequest&)> intercept_;
  testing::TempDir tmp_;
  testing::ReleaseFixture fx_;
  const std::string dir_ = tmp_.File("server");
  std::string v1_, v2_;
  std::unique_ptr<Server> server_;
};

}  // namespace henbtrust
