// Several OAMs on one PostgreSQL database (docs/oam.md, "Several OAMs"): two
// `henbtrust oam serve` processes, beside one `henbtrust pve serve`, drive
// one campaign of a simulated fleet to its end; one of them is killed with
// SIGKILL halfway. The other takes over its jobs and the campaign once their
// leases run out; no job is driven twice, none is forgotten, and every
// transition is in the audit chain once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "henbtrust/core/file.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/sim/fleet.h"
#include "henbtrust/store/store.h"
#include "release/release_fixture.h"
#include "support/postgres.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

using testing::Background;
using namespace std::chrono_literals;

// A few hundred devices; fewer under a sanitizer, whose processes are
// several times slower (the properties checked are the same).
constexpr int kDevices = testing::kSanitizedBuild ? 60 : 200;
constexpr int kBatch = kDevices / 4;
constexpr int kLeaseSeconds = 3;

std::string Log(const std::string& path) {
  auto text = ReadTextFile(path);
  return text.ok() ? *text : "(no log at " + path + ")";
}

TEST(SeveralOams, TwoOamProcessesDriveOneCampaignToItsEndThoughOneIsKilled) {
  testing::PostgresServer pg;
  ASSERT_TRUE(pg.ok()) << pg.error();
  const std::string store_location = "postgres:" + pg.NewDatabase();
  const std::string quoted_store = "'" + store_location + "'";
  testing::TempDir tmp;
  testing::ReleaseFixture fx;
  const std::string v1 = fx.Bundle("v1.bundle", fx.DefaultImages("v1"), 1, {0, 1}, "1.0");
  const std::string v2 = fx.Bundle("v2.bundle", fx.DefaultImages("v2"), 2, {0, 1}, "2.0");
  testing::WriteBytes(tmp.File("trust-root"), *fx.root.Sign({fx.vendor[0], fx.vendor[1]}));
  const PrivateKey mfr_key = *PrivateKey::Generate(KeyType::kEcP256);
  CertificateSpec spec;
  spec.common_name = "Several-OAMs TPM Manufacturer";
  spec.is_ca = true;
  const Certificate mfr = *IssueCertificate(spec, mfr_key.Public(), mfr_key, nullptr);
  testing::WriteBytes(tmp.File("mfr.pem"), AsBytes(mfr.ToPem()));
  testing::WriteBytes(tmp.File("mfr.key"), AsBytes(mfr_key.ToPem()));

  const std::string cli = testing::CliPath();
  const std::string dir = tmp.File("server");
  auto init = testing::Run(cli + " server init --dir " + dir);
  ASSERT_EQ(init.exit_code, 0) << init.err;
  auto import =
      testing::Run(cli + " server import-release --dir " + dir + " --store " + quoted_store +
                   " --trust-root " + tmp.File("trust-root") + " " + v1 + " " + v2);
  ASSERT_EQ(import.exit_code, 0) << import.out << import.err;

  Background pve(cli + " pve serve --dir " + dir + " --store " + quoted_store +
                     " --listen 127.0.0.1:0 --port-file " + tmp.File("pve.port") +
                     " --manufacturer-ca " + tmp.File("mfr.pem"),
                 tmp.File("pve.log"));
  const uint16_t pve_port = testing::WaitForPortFile(tmp.File("pve.port"));
  ASSERT_NE(pve_port, 0) << Log(tmp.File("pve.log"));
  auto oam = [&](const std::string& name) {
    return std::make_unique<Background>(
        cli + " oam serve --dir " + dir + " --store " + quoted_store +
            " --pve 127.0.0.1:" + std::to_string(pve_port) + " --listen 127.0.0.1:0 --port-file " +
            tmp.File(name + ".port") + " --instance " + name + " --lease " +
            std::to_string(kLeaseSeconds),
        tmp.File(name + ".log"));
  };
  auto oam_a = oam("oam-a");
  auto oam_b = oam("oam-b");
  const uint16_t port_a = testing::WaitForPortFile(tmp.File("oam-a.port"));
  const uint16_t port_b = testing::WaitForPortFile(tmp.File("oam-b.port"));
  ASSERT_NE(port_a, 0) << Log(tmp.File("oam-a.log"));
  ASSERT_NE(port_b, 0) << Log(tmp.File("oam-b.log"));

  FleetOptions o;
  o.dir = tmp.File("fleet");
  o.servers = {"127.0.0.1:" + std::to_string(port_a), "127.0.0.1:" + std::to_string(port_b)};
  o.pve = "127.0.0.1:" + std::to_string(pve_port);
  o.ca = dir + "/ca.pem";
  o.oam_key = dir + "/oam.pub";
  o.manufacturer_ca = tmp.File("mfr.pem");
  o.manufacturer_key = tmp.File("mfr.key");
  o.trust_root = tmp.File("trust-root");
  o.bundle = v1;
  o.prefix = "multi";
  o.count = kDevices;
  o.interval = 20ms;
  o.timeout = 600s;
  // Past the takeover of the killed instance's leases.
  o.idle_for = std::chrono::seconds(2 * kLeaseSeconds);
  std::atomic<bool> enrolled{false};
  std::string created;
  o.on_enrolled = [&](const FleetEnrolled&) {
    auto c =
        testing::Run(cli + " server campaign create --dir " + dir + " --store " + quoted_store +
                     " --release-id henb-fw --version 2.0 --batch " + std::to_string(kBatch));
    created = c.out + c.err;
    enrolled = true;
  };
  Result<FleetResult> result = Error(ErrorCode::kInternal, "not run");
  std::thread fleet([&] { result = RunFleet(o); });

  // Once half the fleet has committed, oam-a dies at the first look that
  // finds it driving open jobs (the jobs it holds are what oam-b must take
  // over). Looking for that moment, rather than for a count alone, keeps a
  // slow look that lands between two batches from killing it idle.
  auto store = OpenStore(store_location);
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  std::set<int64_t> held_by_a;
  int committed_at_kill = 0;
  const auto give_up = std::chrono::steady_clock::now() + 300s;
  while (std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(100ms);
    if (!enrolled) continue;
    auto jobs = (*store)->ListJobs(false, 0, 100'000);
    ASSERT_TRUE(jobs.ok()) << jobs.error().ToString();
    int committed = 0;
    std::set<int64_t> held;
    for (const auto& j : *jobs) {
      committed += j.state == JobState::kCommitted ? 1 : 0;
      if (j.open && j.lease_owner == "oam-a") held.insert(j.id);
    }
    if (committed < kDevices / 2 || held.empty()) continue;
    EXPECT_EQ(oam_a->Stop(9) & 0x7f, 9) << "killed by SIGKILL";
    committed_at_kill = committed;
    held_by_a = std::move(held);
    break;
  }
  fleet.join();
  ASSERT_GT(committed_at_kill, 0) << "oam-a was never seen driving open jobs past half the "
                                     "fleet, and never killed; campaign: "
                                  << created << "\n"
                                  << Log(tmp.File("oam-a.log"));
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_NE(created.find("campaign 1"), std::string::npos) << created;
  EXPECT_TRUE(result->idle);
  EXPECT_EQ(result->running, (std::map<std::string, int>{{"2.0", kDevices}}));
  EXPECT_GT(result->failovers, 0) << "the devices of oam-a moved to oam-b";
  std::cout << "committed when oam-a was killed: " << committed_at_kill << " of " << kDevices
            << "; open jobs it held then: " << held_by_a.size()
            << "; device failovers: " << result->failovers << "\n";

  // None forgotten: one job per device, every one committed, the campaign
  // done (oam-b took over its lease).
  auto jobs = (*store)->ListJobs(false, 0, 100'000);
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), static_cast<size_t>(kDevices));
  std::set<std::string> devices;
  for (const auto& j : *jobs) {
    devices.insert(j.device_id);
    EXPECT_EQ(j.state, JobState::kCommitted) << "job " << j.id << ": " << j.detail;
  }
  EXPECT_EQ(devices.size(), static_cast<size_t>(kDevices));
  auto campaign = (*store)->GetCampaign(1);
  ASSERT_TRUE(campaign.ok() && campaign->has_value());
  EXPECT_EQ((**campaign).state, CampaignState::kDone) << (**campaign).detail;

  // None driven twice: the chain holds, and every job made each of its
  // transitions once, the same ones as every other job.
  auto entries = VerifyAuditChain(**store);
  ASSERT_TRUE(entries.ok()) << entries.error().ToString();
  std::map<std::string, std::map<std::string, int>> events;
  int campaign_done = 0;
  for (const auto& e : *(*store)->ListAudit(0, 1'000'000)) {
    if (e.subject.rfind("job:", 0) == 0) ++events[e.subject][e.event];
    if (e.subject == "campaign:1" && e.event == "done") ++campaign_done;
  }
  EXPECT_EQ(campaign_done, 1);
  ASSERT_EQ(events.size(), static_cast<size_t>(kDevices));
  const auto& first = events.begin()->second;
  EXPECT_GE(first.size(), 4u);
  for (const auto& [job, counts] : events) {
    for (const auto& [event, n] : counts) EXPECT_EQ(n, 1) << job << " " << event;
    EXPECT_EQ(counts.size(), first.size()) << job;
  }
}

}  // namespace
}  // namespace henbtrust
