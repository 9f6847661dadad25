// Crash safety of the flow (docs/design.md section 3: "either side may crash or
// lose power at any point and resume without losing or duplicating work"):
// `henbtrust server` is killed with SIGKILL after every device action and
// restarted on the same database, so that it dies in every state a job
// passes through; after every other action a device is "powered off" (its
// agent dropped, the device reopened from its directory and its TrE from its
// state file). Every device must still end committed or rolled back, once,
// with each transition in the audit log once. And `henbtrust agent run`
// renewing its certificate.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "henbtrust/agent/agent.h"
#include "henbtrust/agent/update_agent.h"
#include "henbtrust/core/file.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/oam/oam.h"
#include "henbtrust/server/server.h"
#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"
#include "release/release_fixture.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

using Json = nlohmann::json;
using testing::Background;

std::string Text(const std::string& path) { return ReadTextFile(path).value(); }

// Checks the audit chain, then counts its entries per job and event.
void JobEvents(Store& store, std::map<std::string, std::map<std::string, int>>* events) {
  auto entries = VerifyAuditChain(store);
  ASSERT_TRUE(entries.ok()) << entries.error().ToString();
  for (const auto& e : *store.ListAudit(0, 100000)) {
    if (e.subject.rfind("job:", 0) == 0) ++(*events)[e.subject][e.event];
  }
}

struct CrashDevice {
  std::string id;
  std::string dir;
  DeviceCredentials credentials;
  UpdateAgentConfig faults;
  std::unique_ptr<InjectedFaults> injected = std::make_unique<InjectedFaults>();
  std::unique_ptr<Device> device;
  std::unique_ptr<HttpClient> client;
  std::unique_ptr<UpdateAgent> agent;
};

class ServerProcess {
 public:
  explicit ServerProcess(std::string dir) : dir_(std::move(dir)) {}
  // Starts on `port` (0: any, the first time) and waits until it listens.
  uint16_t Start(uint16_t port) {
    std::filesystem::remove(dir_ + "/port");
    proc_ = std::make_unique<Background>(testing::CliPath() + " server run --dir " + dir_ +
                                             " --listen 127.0.0.1:" + std::to_string(port) +
                                             " --port-file " + dir_ + "/port --manufacturer-ca " +
                                             dir_ + "/../manufacturer.pem" +
                                             // restarted under its name: its leases are its own
                                             " --instance crash-test",
                                         dir_ + "/server.log." + std::to_string(++starts_));
    return testing::WaitForPortFile(dir_ + "/port");
  }
  void Kill() {
    if (proc_) proc_->Stop(9);
    proc_.reset();
  }
  int starts() const { return starts_; }

 private:
  std::string dir_;
  std::unique_ptr<Background> proc_;
  int starts_ = 0;
};

// `henbtrust server init` in TMP/server, a simulated TPM manufacturer (its
// certificate in TMP/manufacturer.pem, for --manufacturer-ca), and `bundles`
// imported into the catalogue. Returns the manufacturer's certificate.
Certificate PrepareServer(testing::TempDir& tmp, const testing::ReleaseFixture& fx,
                          const PrivateKey& mfr_key, const std::vector<std::string>& bundles) {
  const std::string server_dir = tmp.File("server");
  EXPECT_EQ(std::system(
                (testing::CliPath() + " server init --dir " + server_dir + " >/dev/null").c_str()),
            0);
  CertificateSpec spec;
  spec.common_name = "Crash-test TPM Manufacturer";
  spec.is_ca = true;
  Certificate mfr = *IssueCertificate(spec, mfr_key.Public(), mfr_key, nullptr);
  testing::WriteBytes(tmp.File("manufacturer.pem"), AsBytes(mfr.ToPem()));
  auto options = LoadServerDirectory(server_dir);
  if (!options.ok()) {
    ADD_FAILURE() << options.error().ToString();
    return mfr;
  }
  auto server = Server::Open(std::move(options).value());
  if (!server.ok()) {
    ADD_FAILURE() << server.error().ToString();
    return mfr;
  }
  OamService& oam = (*server)->oam();
  for (const auto& bundle : bundles) {
    auto imported = oam.ImportRelease(bundle, fx.root, "operator:test");
    EXPECT_TRUE(imported.ok()) << imported.error().ToString();
  }
  return mfr;
}

TEST(UpdateFlowCrash, EveryDeviceEndsOnceWhenServerAndAgentsAreKilledInEveryState) {
  testing::TempDir tmp;
  const std::string server_dir = tmp.File("server");
  testing::ReleaseFixture fx;
  const std::string v1 = fx.Bundle("v1.bundle", fx.DefaultImages("v1"), 1, {0, 1}, "1.0");
  const std::string v2 = fx.Bundle("v2.bundle", fx.DefaultImages("v2"), 2, {0, 1}, "2.0");
  const auto mfr_key = *PrivateKey::Generate(KeyType::kEcP256);
  const Certificate mfr = PrepareServer(tmp, fx, mfr_key, {v1, v2});
  if (::testing::Test::HasFailure()) return;
  const PublicKey oam_pub = *PublicKey::FromPem(Text(server_dir + "/oam.pub"));

  ServerProcess server(server_dir);
  const uint16_t port = server.Start(0);
  ASSERT_NE(port, 0);
  const std::string ca = Text(server_dir + "/ca.pem");

  auto power_on = [&](CrashDevice& d, bool first) {
    auto tre = SoftTre::OpenStateFile(d.dir + ".tre");
    ASSERT_TRUE(tre.ok()) << tre.error().ToString();
    auto tre_ptr = std::make_unique<SoftTre>(std::move(tre).value());
    auto device =
        first ? Device::Provision(d.dir, "femto-a1", v1, fx.root, fx.now, std::move(tre_ptr))
              : Device::Open(d.dir, std::move(tre_ptr));
    ASSERT_TRUE(device.ok()) << device.error().ToString();
    d.device = std::move(device).value();
    ASSERT_TRUE(d.device->Boot().ok());
  };
  auto connect = [&](CrashDevice& d) {
    d.agent.reset();
    auto client = HttpClient::Connect("127.0.0.1", port, DeviceTls(d.credentials));
    ASSERT_TRUE(client.ok()) << client.error().ToString();
    d.client = std::move(client).value();
    d.agent = std::make_unique<UpdateAgent>(*d.client, *d.client, *d.device, oam_pub, d.faults);
  };

  std::vector<CrashDevice> fleet(3);
  const char* ids[] = {"clean", "implant", "liar"};
  for (size_t i = 0; i < fleet.size(); ++i) {
    CrashDevice& d = fleet[i];
    d.id = ids[i];
    d.dir = tmp.File(d.id);
    power_on(d, true);
    auto ek = ParseTpmPublic(d.device->tre().EkPublic());
    auto ek_cert = IssueEkCertificate(ek->key, mfr_key, mfr);
    auto creds = Enroll("127.0.0.1", port, ca, d.device->tre(),
                        {d.id, "femto-a1", "henb-fw", "1.0", ek_cert->ToDer(), ""});
    ASSERT_TRUE(creds.ok()) << creds.error().ToString();
    d.credentials = *creds;
    d.faults.device_id = d.id;
    d.faults.trust = &fx.root;
    d.faults.download_dir = d.dir + "-downloads";
    d.faults.download_chunk = 4096;
    d.faults.hooks = d.injected.get();
    d.injected->implant_after_install = d.id != "clean";
    d.injected->lie_in_next_report = d.id == "liar";
    connect(d);
  }
  auto op = HttpClient::Connect(
      "127.0.0.1", port,
      {Text(server_dir + "/operator.pem"), Text(server_dir + "/operator.key"), ca});
  ASSERT_TRUE(op.ok());
  for (const auto& d : fleet) {
    auto r = (*op)->Request(
        "POST", "/v1/jobs", "application/json",
        Json({{"device_id", d.id}, {"release_id", "henb-fw"}, {"version", "2.0"}}).dump());
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 201) << r->body;
  }

  std::vector<std::string> trace;
  bool open = true;
  int polls = 0;
  for (int round = 0; round < 20 && open; ++round) {
    for (auto& d : fleet) {
      auto r = d.agent->PollOnce();
      trace.push_back("round " + std::to_string(round) + " " + d.id + ": " +
                      (r.ok() ? r->ToString() : r.error().ToString()));
      // The server dies after every device action, wherever the flow is,
      // and comes back on the same database.
      server.Kill();
      ASSERT_EQ(server.Start(port), port);
      if (++polls % 2 == 0) {          // and every other action, the device loses power
        d.faults = d.agent->config();  // faults that have fired stay fired
        d.agent.reset();
        d.device.reset();
        power_on(d, false);
        connect(d);
      }
      // A report taken just before the kill has its step 9 still due: the
      // restarted server's driver must do it.
      auto store = OpenStore("sqlite:" + server_dir + "/henbtrust.db");
      ASSERT_TRUE(store.ok());
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      for (;;) {
        bool due = false;
        for (const auto& j : *(*store)->ListJobs(true, UnixSeconds(), 10))
          due = due || j.state == JobState::kReported;
        if (!due) break;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "step 9 never resumed";
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
    auto store = OpenStore("sqlite:" + server_dir + "/henbtrust.db");
    ASSERT_TRUE(store.ok());
    open = false;
    for (const auto& d : fleet) open = open || (*store)->OpenJobFor(d.id)->has_value();
  }
  std::string log;
  for (const auto& t : trace) log += t + "\n";
  ASSERT_FALSE(open) << log;
  EXPECT_GE(server.starts(), 9);

  auto store = std::move(OpenStore("sqlite:" + server_dir + "/henbtrust.db")).value();
  std::map<std::string, std::string> state;
  for (const auto& j : *store->ListJobs(false, 0, 100))
    state[j.device_id] = std::string(JobStateName(j.state));
  EXPECT_EQ(state["clean"], "committed") << log;
  EXPECT_EQ(state["implant"], "rolled-back") << log;
  EXPECT_EQ(state["liar"], "rolled-back") << log;
  EXPECT_EQ(fleet[0].device->SlotManifest(fleet[0].device->boot_control().active)->version, "2.0");
  EXPECT_EQ(fleet[1].device->SlotManifest(fleet[1].device->boot_control().active)->version, "1.0");
  EXPECT_EQ(fleet[2].device->SlotManifest(fleet[2].device->boot_control().active)->version, "1.0");

  std::map<std::string, std::map<std::string, int>> events;
  ASSERT_NO_FATAL_FAILURE(JobEvents(*store, &events));
  for (const auto& [subject, by_event] : events) {
    for (const auto& [event, times] : by_event) {
      if (event == "PVE unavailable") continue;
      EXPECT_EQ(times, 1) << subject << " " << event << "\n" << log;
    }
    EXPECT_EQ(by_event.count("committed") + by_event.count("rolled back"), 1u) << subject;
  }
  server.Kill();
}

// The agents are `henbtrust agent run` processes, killed with SIGKILL at
// random moments (in the middle of a download, an install, a trial boot or a
// report) and restarted on their device directories. Every device still
// ends committed or rolled back, once, and runs what its job says.
TEST(UpdateFlowCrash, AgentProcessesKilledAtRandomMomentsStillEndOnce) {
  testing::TempDir tmp;
  const std::string server_dir = tmp.File("server");
  testing::ReleaseFixture fx;
  // Large enough that a kill often lands in the middle of a download.
  testing::ReleaseFixture::Images big = fx.DefaultImages("v2");
  big.back().second.append(std::string(256 << 10, 'x'));
  const std::string v1 = fx.Bundle("v1.bundle", fx.DefaultImages("v1"), 1, {0, 1}, "1.0");
  const std::string v2 = fx.Bundle("v2.bundle", big, 2, {0, 1}, "2.0");
  testing::WriteBytes(tmp.File("trust-root"), *fx.root.Sign({fx.vendor[0], fx.vendor[1]}));
  const auto mfr_key = *PrivateKey::Generate(KeyType::kEcP256);
  const Certificate mfr = PrepareServer(tmp, fx, mfr_key, {v1, v2});
  if (::testing::Test::HasFailure()) return;
  ServerProcess server(server_dir);
  const uint16_t port = server.Start(0);
  ASSERT_NE(port, 0);

  // Factory: provision each device on 1.0 with its soft TrE, and its EK certificate.
  const std::vector<std::string> ids = {"kill-a", "kill-b", "kill-c"};
  for (const auto& id : ids) {
    const std::string dir = tmp.File(id);
    auto tre = SoftTre::OpenStateFile(dir + ".tre-init");
    ASSERT_TRUE(tre.ok());
    std::filesystem::create_directories(dir);
    std::filesystem::rename(dir + ".tre-init", dir + "/tre.state");
    auto device = Device::Provision(dir, "femto-a1", v1, fx.root, fx.now,
                                    std::make_unique<SoftTre>(std::move(tre).value()));
    ASSERT_TRUE(device.ok()) << device.error().ToString();
    auto ek = ParseTpmPublic((*device)->tre().EkPublic());
    testing::WriteBytes(dir + "/ek.der", IssueEkCertificate(ek->key, mfr_key, mfr)->ToDer());
  }
  int starts = 0;
  std::map<std::string, std::vector<std::string>> logs;
  auto start_agent = [&](const std::string& id) {
    const std::string dir = tmp.File(id);
    logs[id].push_back(dir + ".log." + std::to_string(starts + 1));
    return std::make_unique<Background>(
        testing::CliPath() + " agent run --dir " + dir +
            " --server 127.0.0.1:" + std::to_string(port) + " --ca " + server_dir +
            "/ca.pem --oam-key " + server_dir + "/oam.pub --trust-root " + tmp.File("trust-root") +
            " --device-id " + id + " --ek-cert " + dir + "/ek.der --interval-ms 300",
        dir + ".log." + std::to_string(++starts));
  };
  std::map<std::string, std::unique_ptr<Background>> agents;
  for (const auto& id : ids) agents[id] = start_agent(id);
  auto store = std::move(OpenStore("sqlite:" + server_dir + "/henbtrust.db")).value();
  const auto enrolled_by = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (const auto& id : ids) {
    while (!store->GetDevice(id)->has_value()) {
      ASSERT_LT(std::chrono::steady_clock::now(), enrolled_by) << id << " did not enroll";
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  auto op = HttpClient::Connect("127.0.0.1", port,
                                {Text(server_dir + "/operator.pem"),
                                 Text(server_dir + "/operator.key"), Text(server_dir + "/ca.pem")});
  ASSERT_TRUE(op.ok());
  for (const auto& id : ids) {
    auto r = (*op)->Request(
        "POST", "/v1/jobs", "application/json",
        Json({{"device_id", id}, {"release_id", "henb-fw"}, {"version", "2.0"}}).dump());
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 201) << r->body;
  }
  auto open_jobs = [&] {
    int n = 0;
    for (const auto& id : ids) n += store->OpenJobFor(id)->has_value() ? 1 : 0;
    return n;
  };
  // Kill an agent every few tens of milliseconds while jobs are open.
  std::mt19937 rng(testing::TestSeed());
  int kills = 0;
  for (int i = 0; i < 60 && open_jobs() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10 + rng() % 90));
    const std::string& id = ids[rng() % ids.size()];
    agents[id]->Stop(9);
    ++kills;
    agents[id] = start_agent(id);
  }
  // Then let them finish.
  const auto finish_by = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (open_jobs() > 0) {
    if (std::chrono::steady_clock::now() > finish_by) {
      std::string why;
      for (const auto& j : *store->ListJobs(true, INT64_MAX, 10))
        why += j.device_id + " " + std::string(JobStateName(j.state)) + ": " + j.detail + "\n";
      for (const auto& id : ids) {
        for (const auto& log : logs[id]) {
          auto text = ReadTextFile(log);
          why += "--- " + log + "\n" + (text.ok() ? *text : std::string());
        }
      }
      FAIL() << "jobs still open after the kills:\n" << why;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& [id, agent] : agents) agent->Stop(9);
  EXPECT_GE(kills, 5) << "the flow ended before the agents were killed a few times";
  std::cerr << kills << " agent kills while jobs were open\n";

  std::map<std::string, std::string> outcome;
  for (const auto& j : *store->ListJobs(false, 0, 100)) {
    EXPECT_EQ(outcome.count(j.device_id), 0u) << "two jobs for " << j.device_id;
    outcome[j.device_id] = std::string(JobStateName(j.state));
  }
  for (const auto& id : ids) {
    ASSERT_TRUE(outcome[id] == "committed" || outcome[id] == "rolled-back")
        << id << " ended " << outcome[id];
    // The device runs what its job says, and the PVE records the same.
    auto tre = SoftTre::OpenStateFile(tmp.File(id) + "/tre.state");
    auto device = Device::Open(tmp.File(id), std::make_unique<SoftTre>(std::move(tre).value()));
    ASSERT_TRUE(device.ok()) << device.error().ToString();
    const std::string want = outcome[id] == "committed" ? "2.0" : "1.0";
    EXPECT_EQ((*device)->SlotManifest((*device)->boot_control().active)->version, want) << id;
    EXPECT_EQ((**store->GetDevice(id)).release_version, want) << id;
  }
  std::map<std::string, std::map<std::string, int>> events;
  ASSERT_NO_FATAL_FAILURE(JobEvents(*store, &events));
  for (const auto& [subject, by_event] : events) {
    EXPECT_EQ(by_event.count("committed") + by_event.count("rolled back"), 1u) << subject;
    for (const char* once : {"opened", "ordered", "committed", "rolled back", "verified"}) {
      if (by_event.count(once)) {
        EXPECT_EQ(by_event.at(once), 1) << subject << " " << once;
      }
    }
  }
  server.Kill();
}

// `henbtrust agent run` renews its certificate before a poll once it is due
// (here every round: a window longer than the validity), keeps the new
// identity in its directory and goes on with it; restarted, it polls with
// what it kept, and with the default window renews nothing.
TEST(AgentProcess, RenewsItsCertificateWhenDueAndGoesOnWithIt) {
  testing::TempDir tmp;
  const std::string server_dir = tmp.File("server");
  testing::ReleaseFixture fx;
  const std::string v1 = fx.Bundle("v1.bundle", fx.DefaultImages("v1"), 1, {0, 1}, "1.0");
  testing::WriteBytes(tmp.File("trust-root"), *fx.root.Sign({fx.vendor[0], fx.vendor[1]}));
  const auto mfr_key = *PrivateKey::Generate(KeyType::kEcP256);
  const Certificate mfr = PrepareServer(tmp, fx, mfr_key, {v1});
  if (::testing::Test::HasFailure()) return;
  ServerProcess server(server_dir);
  const uint16_t port = server.Start(0);
  ASSERT_NE(port, 0);
  const std::string dir = tmp.File("renew-a");
  {
    auto tre = SoftTre::OpenStateFile(dir + ".tre-init");
    ASSERT_TRUE(tre.ok());
    std::filesystem::create_directories(dir);
    std::filesystem::rename(dir + ".tre-init", dir + "/tre.state");
    auto device = Device::Provision(dir, "femto-a1", v1, fx.root, fx.now,
                                    std::make_unique<SoftTre>(std::move(tre).value()));
    ASSERT_TRUE(device.ok()) << device.error().ToString();
    auto ek = ParseTpmPublic((*device)->tre().EkPublic());
    testing::WriteBytes(dir + "/ek.der", IssueEkCertificate(ek->key, mfr_key, mfr)->ToDer());
  }
  auto run = [&](const std::string& extra, int seconds) {
    return testing::Run(testing::CliPath() + " agent run --dir " + dir +
                        " --server 127.0.0.1:" + std::to_string(port) + " --ca " + server_dir +
                        "/ca.pem --oam-key " + server_dir + "/oam.pub --trust-root " +
                        tmp.File("trust-root") + " --device-id renew-a --ek-cert " + dir +
                        "/ek.der --interval-ms 200 --timeout " + std::to_string(seconds) + extra);
  };
  auto renewals = [&] {
    auto store = OpenStore("sqlite:" + server_dir + "/henbtrust.db");
    int n = 0;
    for (const auto& e : *(*store)->ListAudit(0, 100000)) n += e.event == "certificate renewed";
    return n;
  };
  auto serials = [&] {
    auto store = OpenStore("sqlite:" + server_dir + "/henbtrust.db");
    return std::make_pair(Certificate::FromPem(Text(dir + "/agent/device.pem"))->SerialHex(),
                          (**(*store)->GetDevice("renew-a")).certificate_serial);
  };

  const auto first = run(" --renew-within-days 400", 3);
  EXPECT_EQ(first.exit_code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("enrolled renew-a"), std::string::npos) << first.out;
  EXPECT_NE(first.out.find("renewed the device certificate"), std::string::npos) << first.out;
  EXPECT_EQ(first.out.find("renewal:"), std::string::npos) << first.out;
  EXPECT_EQ(first.out.find("poll:"), std::string::npos) << first.out;
  const int renewed = renewals();
  EXPECT_GE(renewed, 2);
  auto [kept, recorded] = serials();
  EXPECT_EQ(kept, recorded) << "the agent kept another certificate than the PVE records";

  const auto second = run("", 2);
  EXPECT_EQ(second.exit_code, 0) << second.out << second.err;
  EXPECT_EQ(second.out.find("renewed"), std::string::npos) << second.out;
  EXPECT_EQ(second.out.find("enrolled"), std::string::npos) << second.out;
  EXPECT_EQ(second.out.find("poll:"), std::string::npos) << second.out;
  EXPECT_EQ(renewals(), renewed);
  EXPECT_EQ(serials().first, kept);
  server.Kill();
}

}  // namespace
}  // namespace henbtrust
