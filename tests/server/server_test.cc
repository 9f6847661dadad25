// The composition of the OAM and the PVE in one process: routing, the
// server directory, the driver's lifetime, and the OAM alone beside a
// PVE in another server.
#include "henbtrust/server/server.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "henbtrust/core/file.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/pve/decommission.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

using Json = nlohmann::json;

std::string Text(const std::string& path) { return ReadTextFile(path).value(); }

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(InitServerDirectory(dir_, {"127.0.0.1"}).ok());
    auto options = LoadServerDirectory(dir_);
    ASSERT_TRUE(options.ok()) << options.error().ToString();
    options_.emplace(std::move(options).value());
  }

  std::unique_ptr<Server> Started(ServerOptions options) {
    auto server = Server::Open(std::move(options));
    EXPECT_TRUE(server.ok()) << server.error().ToString();
    if (!server.ok()) return nullptr;
    auto started = (*server)->Start();
    EXPECT_TRUE(started.ok()) << started.error().ToString();
    return std::move(server).value();
  }

  // A client with the directory's operator identity.
  std::unique_ptr<HttpClient> Operator(uint16_t port) {
    auto client = HttpClient::Connect(
        "127.0.0.1", port,
        {Text(dir_ + "/operator.pem"), Text(dir_ + "/operator.key"), Text(dir_ + "/ca.pem")});
    EXPECT_TRUE(client.ok()) << client.error().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  testing::TempDir tmp_;
  const std::string dir_ = tmp_.File("server");
  std::optional<ServerOptions> options_;
};

TEST_F(ServerTest, ADirectoryHasTheOamKeyCatalogueAndDefaultStore) {
  for (const char* file : {"oam.key", "oam.pub", "audit.key", "audit.pub", "ca.pem", "server.pem",
                           "operator.pem", "client-ca.pem"}) {
    EXPECT_TRUE(std::filesystem::exists(dir_ + "/" + file)) << file;
  }
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/catalogue"));
  EXPECT_EQ(options_->store, "sqlite:" + dir_ + "/henbtrust.db");
  EXPECT_EQ(options_->oam.catalogue_dir, dir_ + "/catalogue");
  EXPECT_EQ(ServerStoreLocation(dir_, "postgres:dbname=x"), "postgres:dbname=x");
  EXPECT_TRUE(LoadOperatorTls(dir_).ok());
}

TEST_F(ServerTest, AMissingDirectoryIsAnErrorNamingIt) {
  auto options = LoadServerDirectory(tmp_.File("nowhere"));
  ASSERT_FALSE(options.ok());
  EXPECT_NE(options.error().ToString().find("server directory " + tmp_.File("nowhere")),
            std::string::npos)
      << options.error().ToString();
  EXPECT_FALSE(LoadOperatorTls(tmp_.File("nowhere")).ok());
}

TEST_F(ServerTest, SendsOamTargetsToTheOamAndTheRestToThePve) {
  auto server = Started(*options_);
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->port(), 0);
  ASSERT_NE(server->pve(), nullptr);
  auto op = Operator(server->port());
  ASSERT_NE(op, nullptr);

  auto jobs = op->Request("GET", "/v1/jobs");  // the OAM's
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->status, 200) << jobs->body;
  auto health = op->Request("GET", "/healthz");  // the PVE's
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200) << health->body;
  EXPECT_EQ(Json::parse(health->body, nullptr, false)["status"], "ok") << health->body;
  // A job for a device the PVE never enrolled: the OAM answers from the store.
  auto refused = op->Request(
      "POST", "/v1/jobs", "application/json",
      Json({{"device_id", "ghost"}, {"release_id", "henb-fw"}, {"version", "2.0"}}).dump());
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 404) << refused->body;
}

TEST_F(ServerTest, TheDriverRunsBetweenStartAndStop) {
  std::atomic<int> ticks{0};
  ServerOptions options = *options_;
  options.drive_interval = std::chrono::milliseconds(10);
  options.after_drive = [&ticks](Store&) { ++ticks; };
  auto server = Server::Open(std::move(options));
  ASSERT_TRUE(server.ok()) << server.error().ToString();
  EXPECT_EQ((*server)->port(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ticks.load(), 0) << "the driver ran before Start";
  ASSERT_TRUE((*server)->Start().ok());
  EXPECT_FALSE((*server)->Start().ok()) << "started twice";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ticks.load() < 3) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the driver never ran";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  (*server)->Stop();
  const int after_stop = ticks.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ticks.load(), after_stop) << "the driver ran after Stop";
  (*server)->Stop();  // idempotent
}

TEST_F(ServerTest, TheOamAloneReachesARemotePveAndSendsNoPveTargetThere) {
  ServerOptions pve_options = *options_;
  pve_options.store = "sqlite:" + tmp_.File("pve.db");
  auto pve = Started(pve_options);
  ASSERT_NE(pve, nullptr);

  ServerOptions oam_options = *options_;
  oam_options.remote_pve = "127.0.0.1:" + std::to_string(pve->port());
  auto tls = LoadOperatorTls(dir_);
  ASSERT_TRUE(tls.ok());
  oam_options.remote_pve_tls = *tls;
  auto oam = Started(oam_options);
  ASSERT_NE(oam, nullptr);
  EXPECT_EQ(oam->pve(), nullptr);

  auto op = Operator(oam->port());
  ASSERT_NE(op, nullptr);
  auto health = op->Request("GET", "/healthz");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 404) << health->body;
  EXPECT_NE(health->body.find("the PVE is at " + oam_options.remote_pve), std::string::npos)
      << health->body;
  auto jobs = op->Request("GET", "/v1/jobs");
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->status, 200) << jobs->body;

  // The OAM connects to its PVE when it opens: none there, no OAM.
  ServerOptions unreachable = *options_;
  unreachable.remote_pve = "127.0.0.1:1";
  unreachable.remote_pve_tls = *tls;
  auto refused = Server::Open(unreachable);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().ToString().find("PVE at 127.0.0.1:1"), std::string::npos)
      << refused.error().ToString();
}

// A device with a certificate from the directory's client CA, recorded as
// enrolled in `store`.
struct FakeDevice {
  std::string id;
  TlsConfig tls;
  std::string serial;
};
FakeDevice Enrolled(const ServerOptions& options, Store& store, const std::string& dir,
                    const std::string& id) {
  auto issued =
      IssueClientIdentity(options.pve.client_ca, options.pve.client_ca_key, id, kRoleDevice);
  EXPECT_TRUE(issued.ok());
  FakeDevice d{id, {issued->certificate_pem, issued->private_key_pem, Text(dir + "/ca.pem")}, ""};
  d.serial = Certificate::FromPem(issued->certificate_pem)->SerialHex();
  DeviceRecord record;
  record.device_id = id;
  record.hardware_model = "femto-a1";
  record.ek_public = Bytes{1};
  record.ak_public = Bytes{2};
  record.state = kDeviceEnrolled;
  record.certificate_serial = d.serial;
  EXPECT_TRUE(
      store.EnrollDevice(record, {0, 1, "test", "device:" + id, "enrolled", "", {}, {}}).ok());
  return d;
}

// Whether a new connection with `tls` gets the OAM's answer to a poll.
bool Polls(uint16_t port, const TlsConfig& tls) {
  auto client = HttpClient::Connect("127.0.0.1", port, tls);
  if (!client.ok()) return false;
  auto r = (*client)->Request("POST", "/v1/agent/poll", "application/json", "{}");
  return r.ok() && r->status == 200;
}

// A device decommissioned by another process (the operator's command, on
// the same store): the OAM and the PVE refuse its requests at once, and
// the server its TLS handshake once it reloads its refused certificates.
TEST_F(ServerTest, ADeviceDecommissionedElsewhereIsRefusedAtTheHandshakeAfterAReload) {
  ServerOptions options = *options_;
  options.refused_certificates_refresh = std::chrono::milliseconds(50);
  auto server = Started(options);
  ASSERT_NE(server, nullptr);
  const FakeDevice d = Enrolled(options, server->store(), dir_, "henb-x");
  const FakeDevice other = Enrolled(options, server->store(), dir_, "henb-y");
  auto open = HttpClient::Connect("127.0.0.1", server->port(), d.tls);
  ASSERT_TRUE(open.ok()) << open.error().ToString();
  auto polled = (*open)->Request("POST", "/v1/agent/poll", "application/json", "{}");
  ASSERT_TRUE(polled.ok());
  ASSERT_EQ(polled->status, 200) << polled->body;

  auto elsewhere = OpenStore(options.store);
  ASSERT_TRUE(elsewhere.ok()) << elsewhere.error().ToString();
  auto serial = DecommissionDevice(**elsewhere, {"henb-x", "stolen", "operator:cli", 100});
  ASSERT_TRUE(serial.ok()) << serial.error().ToString();
  EXPECT_EQ(*serial, d.serial);

  // The connection opened before: refused by the OAM and by the PVE as soon
  // as the server's store sees the other's commit (SQLite: within 100 ms).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto poll = (*open)->Request("POST", "/v1/agent/poll", "application/json", "{}");
    ASSERT_TRUE(poll.ok()) << poll.error().ToString();
    if (poll->status == 401) break;
    ASSERT_EQ(poll->status, 200) << poll->body;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the OAM never refused it";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto nonce = (*open)->Request("POST", "/v1/nonces", "application/json", "{}");
  ASSERT_TRUE(nonce.ok()) << nonce.error().ToString();
  EXPECT_EQ(nonce->status, 401) << nonce->body;
  EXPECT_NE(nonce->body.find("decommissioned"), std::string::npos) << nonce->body;
  // New connections: refused at the handshake within a few reloads.
  while (Polls(server->port(), d.tls)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "never refused at the handshake";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto again = HttpClient::Connect("127.0.0.1", server->port(), d.tls);
  if (again.ok()) {  // TLS 1.3: the client may finish its side first
    EXPECT_FALSE((*again)->Request("GET", "/healthz").ok());
  }
  EXPECT_TRUE(Polls(server->port(), other.tls));
}

// Decommissioned through this server's PVE: refused at the handshake at
// once, without waiting for a reload.
TEST_F(ServerTest, ADeviceDecommissionedThroughThePveIsRefusedAtTheHandshakeAtOnce) {
  ServerOptions options = *options_;
  options.refused_certificates_refresh = std::chrono::hours(1);
  auto server = Started(options);
  ASSERT_NE(server, nullptr);
  const FakeDevice d = Enrolled(options, server->store(), dir_, "henb-z");
  EXPECT_TRUE(Polls(server->port(), d.tls));
  auto op = Operator(server->port());
  ASSERT_NE(op, nullptr);
  auto done = op->Request("POST", "/v1/devices/henb-z/decommissioning", "application/json",
                          R"({"reason":"returned to the vendor"})");
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->status, 200) << done->body;
  EXPECT_FALSE(Polls(server->port(), d.tls));
  EXPECT_EQ((*server->store().GetDevice("henb-z"))->state, kDeviceDecommissioned);
}

// A restarted server reads the refused certificates when it starts.
TEST_F(ServerTest, AServerStartsWithTheRefusedCertificatesOfItsStore) {
  ServerOptions options = *options_;
  options.refused_certificates_refresh = std::chrono::milliseconds(0);
  FakeDevice d;
  {
    auto store = OpenStore(options.store);
    ASSERT_TRUE(store.ok());
    d = Enrolled(options, **store, dir_, "henb-w");
    ASSERT_TRUE(DecommissionDevice(**store, {"henb-w", "", "operator:cli", 100}).ok());
  }
  auto server = Started(options);
  ASSERT_NE(server, nullptr);
  auto client = HttpClient::Connect("127.0.0.1", server->port(), d.tls);
  if (client.ok()) {  // TLS 1.3: the client may finish its side first
    EXPECT_FALSE((*client)->Request("GET", "/healthz").ok());
  }
}

}  // namespace
}  // namespace henbtrust
