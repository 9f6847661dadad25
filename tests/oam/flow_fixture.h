// The fixture of the OAM's end-to-end tests (flow_test.cc, recovery_test.cc):
// the OAM and the PVE behind one server (as `henbtrust server` runs them) on
// SQLite or PostgreSQL, and soft-TrE devices with A/B slots driven by the
// update agent over HTTPS.
#pragma once

#include "henbtrust/oam/oam.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "henbtrust/agent/update_agent.h"
#include "henbtrust/agent/watchdog_agent.h"
#include "henbtrust/core/file.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/release/manifest.h"
#include "henbtrust/server/server.h"
#include "henbtrust/tpm/tpm_tre.h"
#include "pve/pve_harness.h"
#include "support/bad_json.h"
#include "support/postgres.h"
#include "support/test_support.h"

namespace henbtrust {

using testing::PveHarness;
using Json = nlohmann::json;

inline Json Body(const HttpResponse& r) { return Json::parse(r.body, nullptr, false); }

struct FleetDevice {
  // A device on swtpm holds its TPM, which outlives the device (declared first).
  std::unique_ptr<testing::Swtpm> swtpm = nullptr;
  std::string id;
  std::unique_ptr<Device> device;
  DeviceCredentials credentials = {};  // as enrollment gave them
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<InjectedFaults> faults = std::make_unique<InjectedFaults>();
  std::unique_ptr<UpdateAgent> agent;
  // With a boot stage (recovery_test.cc): the watchdog's rounds (and the
  // recovery image's agent within).
  std::unique_ptr<WatchdogAgent> watchdog = nullptr;
};

class UpdateFlowTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    std::unique_ptr<Store> store;
    if (GetParam() == "postgres") {
      if (pg_ == nullptr) pg_ = new testing::PostgresServer();
      ASSERT_TRUE(pg_->ok()) << pg_->error();
      auto s = OpenPostgresStore(pg_->NewDatabase());
      ASSERT_TRUE(s.ok()) << s.error().ToString();
      store = std::move(s).value();
    }
    h_ = std::make_unique<PveHarness>(std::move(store), std::vector<std::string>{}, false);
    oam_key_ = *PrivateKey::Generate(KeyType::kEcP256);
    oam_config_.emplace(OamConfig{oam_key_, h_->dir.File("catalogue")});
    oam_config_->now = [this] { return h_->now.load(); };
    oam_config_->order_ttl = 600;
    // One instance, restarted under its name (RestartOam): its leases stay its own.
    oam_config_->instance_id = "flow-test";
    std::filesystem::create_directories(oam_config_->catalogue_dir);
    RestartOam([](OamConfig&) {});
    if (HasFatalFailure()) return;

    auto& fx = h_->fixture;
    v1_ = fx.Bundle("v1.bundle", fx.DefaultImages("v1"), 1, {0, 1}, "1.0");
    v2_ = fx.Bundle("v2.bundle", fx.DefaultImages("v2"), 2, {0, 1}, "2.0");
    ASSERT_TRUE(oam_->ImportRelease(v1_, fx.root, "operator:test").ok());
    auto imported = oam_->ImportRelease(v2_, fx.root, "operator:test");
    ASSERT_TRUE(imported.ok()) << imported.error().ToString();
    EXPECT_EQ(*imported, "henb-fw 2.0");
  }

  // A factory-fresh device on release 1.0, enrolled with the PVE.
  // With `options.boot_stage` set, the device has a boot stage, its soft
  // TrE's clock follows the test's clock (h_->now), and it gets a recovery
  // agent and a watchdog agent.
  // `on_swtpm`: the device's TrE is a fresh swtpm instead (whose clock the
  // test moves on with TPM2_ClockSet).
  FleetDevice AddDevice(const std::string& id, DeviceOptions options = {}, bool on_swtpm = false) {
    FleetDevice d;
    d.id = id;
    std::unique_ptr<Tre> tre;
    const bool watchdog = !options.boot_stage.ticket_key_pem.empty();
    if (on_swtpm) {
      d.swtpm = std::make_unique<testing::Swtpm>();
      EXPECT_TRUE(d.swtpm->ok());
      TpmTreOptions o;
      o.tcti = d.swtpm->Tcti();
      o.swtpm_control = d.swtpm->Control();
      auto opened = OpenTpmTre(o);
      EXPECT_TRUE(opened.ok()) << opened.error().ToString();
      tre = std::move(opened).value();
      // Its clock starts at the test's, which it then follows.
      EXPECT_TRUE(TpmClockSet(*tre, static_cast<uint64_t>(h_->now.load()) * 1000).ok());
    } else {
      auto soft = std::make_unique<SoftTre>(*SoftTre::Create());
      if (watchdog) {
        soft->SetClock([this] { return static_cast<uint64_t>(h_->now.load()) * 1000; });
      }
      tre = std::move(soft);
    }
    auto device = Device::Provision(h_->dir.File(id), "femto-a1", v1_, h_->fixture.root, h_->now,
                                    std::move(tre), options);
    EXPECT_TRUE(device.ok()) << device.error().ToString();
    d.device = std::move(device).value();
    EXPECT_TRUE(d.device->Boot().ok());
    EnrollmentRequest req{id, "femto-a1", "henb-fw", "1.0", h_->EkCertificate(d.device->tre()), ""};
    auto creds = EnrollDevice("127.0.0.1", server_->port(), h_->CaPem(), *d.device, req);
    EXPECT_TRUE(creds.ok()) << creds.error().ToString();
    EXPECT_EQ(creds->recovery_problem, "");
    d.credentials = *creds;
    d.client = h_->Client(DeviceTls(*creds));
    UpdateAgentConfig config;
    config.device_id = id;
    config.trust = &h_->fixture.root;
    config.download_dir = h_->dir.File(id + "-downloads");
    config.download_chunk = 4096;  // several range requests per bundle
    config.now = [this] { return h_->now.load(); };
    config.hooks = d.faults.get();
    d.agent =
        std::make_unique<UpdateAgent>(*d.client, *d.client, *d.device, oam_key_.Public(), config);
    if (watchdog) {
      config.hooks = nullptr;
      RecoveryEndpoint recovery{"127.0.0.1", h_->port(), h_->CaPem(), oam_key_.Public(), config};
      d.watchdog = std::make_unique<WatchdogAgent>(*d.client, *d.client, *d.device,
                                                   std::move(recovery), id, watchdog_retry_);
    }
    return d;
  }

  // The server's options: the harness's PVE, the OAM's configuration with
  // `tweak` applied, no driver thread (the tests drive), and the test's
  // outage and interception in front of the PVE link and of the server.
  ServerOptions Options(const std::function<void(OamConfig&)>& tweak) {
    OamConfig config = *oam_config_;
    tweak(config);
    ServerOptions options{h_->pve->config, std::move(config), h_->pve->server_tls};
    options.drive_interval = std::chrono::milliseconds(0);
    options.wrap_pve_link = [this](PveLink link) -> PveLink {
      return [this, link](const std::string& method, const std::string& target,
                          const std::string& body) -> Result<HttpResponse> {
        if (pve_down_) return Error(ErrorCode::kNet, "cannot connect to the PVE (test outage)");
        return link(method, target, body);
      };
    };
    options.wrap_handler = [this](AsyncHttpHandler inner) -> AsyncHttpHandler {
      return [this, inner](const HttpRequest& r, HttpResponder respond) {
        {
          std::lock_guard<std::mutex> lock(intercept_mu_);
          if (intercept_) {
            if (auto answer = intercept_(r)) return respond(*answer);
          }
        }
        inner(r, std::move(respond));
      };
    };
    return options;
  }

  // A new server (OAM and PVE) on the same store and catalogue, with
  // `tweak` applied to the OAM's configuration; call it while no request is
  // in flight. Clients made before it reach the old port.
  void RestartOam(const std::function<void(OamConfig&)>& tweak) {
    server_.reset();
    oam_ = nullptr;
    auto server = Server::Open(Options(tweak), *h_->store);
    ASSERT_TRUE(server.ok()) << server.error().ToString();
    auto started = (*server)->Start();
    ASSERT_TRUE(started.ok()) << started.error().ToString();
    server_ = std::move(server).value();
    oam_ = &server_->oam();
    h_->port_override = server_->port();
    operator_ = h_->Client(h_->RoleTls("operator"));
  }

  // The server answers what `intercept` returns instead of the OAM and PVE
  // (a man in the middle, or an OAM that replays); nullopt passes on.
  void Intercept(std::function<std::optional<HttpResponse>(const HttpRequest&)> intercept) {
    std::lock_guard<std::mutex> lock(intercept_mu_);
    intercept_ = std::move(intercept);
  }

  // Writes a bundle of release `release_id` `version` (release counter
  // `counter`), signed by the fixture's vendors; returns its path.
  std::string CustomBundle(const std::string& release_id, const std::string& version,
                           uint64_t counter, const std::string& tag) {
    auto& fx = h_->fixture;
    const auto images = fx.DefaultImages(tag);
    ReleaseManifest m = fx.Manifest(images, counter, version);
    m.release_id = release_id;
    const std::string path = fx.dir.File(tag + ".bundle");
    auto written = WriteBundle(path, m, fx.Sign(m), fx.WriteImages(images, tag));
    EXPECT_TRUE(written.ok()) << written.error().ToString();
    return path;
  }

  Json Post(const std::string& target, const Json& body, int want) {
    auto r = operator_->Request("POST", target, "application/json", body.dump());
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, want) << r->body;
    return Json::parse(r->body, nullptr, false);
  }
  Json Get(const std::string& target) {
    auto r = operator_->Request("GET", target);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200) << r->body;
    return Json::parse(r->body, nullptr, false);
  }

  // Polls every agent and drives the OAM until no job is open.
  void RunToEnd(std::vector<FleetDevice>& fleet, int max_rounds = 20) {
    for (int round = 0; round < max_rounds; ++round) {
      bool open = false;
      for (auto& d : fleet) {
        auto r = d.agent->PollOnce();
        ASSERT_TRUE(r.ok()) << d.id << ": " << r.error().ToString();
        log_.push_back(d.id + ": " + r->ToString());
      }
      ASSERT_TRUE(oam_->Drive().ok());
      h_->now += 1;
      for (auto& d : fleet) {
        auto job = h_->store->OpenJobFor(d.id);
        ASSERT_TRUE(job.ok());
        open = open || job->has_value();
      }
      if (!open) return;
    }
    std::string trace;
    for (const auto& l : log_) trace += l + "\n";
    FAIL() << "jobs still open after " << max_rounds << " rounds:\n" << trace;
  }

  inline static testing::PostgresServer* pg_ = nullptr;
  std::unique_ptr<PveHarness> h_;
  std::atomic<bool> pve_down_{false};    // the OAM's link to the PVE fails
  std::optional<OamConfig> oam_config_;  // the OAM's, before RestartOam's tweaks
  std::mutex intercept_mu_;
  std::function<std::optional<HttpResponse>(const HttpRequest&)> intercept_;
  PrivateKey oam_key_ = *PrivateKey::Generate(KeyType::kEcP256);
  std::string v1_, v2_;
  std::vector<std::string> log_;
  std::unique_ptr<Server> server_;  // stopped before what its decorators use
  OamService* oam_ = nullptr;       // the server's
  std::unique_ptr<HttpClient> operator_;
  // How devices with a boot stage retry the OAM in minimal mode.
  WatchdogRetry watchdog_retry_ = {30, 120};
};

}  // namespace henbtrust
