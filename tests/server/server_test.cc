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

}  // namespace
}  // namespace henbtrust
