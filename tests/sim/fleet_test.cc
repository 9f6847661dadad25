// A small fleet against a Server in this process: each device enrolls on
// release 1.0, is given a job to 2.0, and ends where its job's outcome says.
#include "henbtrust/sim/fleet.h"

#include "sim/fleet_fixture.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>

#include "henbtrust/core/file.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/oam_protocol.h"
#include "henbtrust/server/server.h"
#include "release/release_fixture.h"
#include "support/bad_json.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

// Twice: the devices' files on disk, then in memory (nothing of theirs on
// disk), with the same outcomes.
TEST_F(FleetTest, ThreeDevicesEndCommittedOrFallenBackAndAreCounted) {
  for (const bool in_memory : {false, true}) {
    SCOPED_TRACE(in_memory ? "files in memory" : "files on disk");
    FleetOptions o = Options();
    o.prefix = in_memory ? "mem" : "sim";
    o.files_in_memory = in_memory;
    const std::string first = o.prefix + "-0001";
    const std::string second = o.prefix + "-0002";
    const std::string third = o.prefix + "-0003";
    o.tamper = {second};  // refused before install, fetched again: commits
    o.implant = {third};  // caught at the trial boot: falls back
    int enrolled = 0;
    o.on_enrolled = [&](const FleetEnrolled& e) {
      enrolled = e.devices;
      EXPECT_EQ(e.version, "1.0");
      EXPECT_EQ(e.manufacturer, "Fleet-test TPM Manufacturer");
      for (const auto& id : {first, second, third}) {
        auto job = server_->oam().OpenJob(id, "henb-fw", "2.0", "operator:test");
        EXPECT_TRUE(job.ok()) << id << ": " << job.error().ToString();
      }
    };
    std::vector<std::string> actions;
    o.on_action = [&](const std::string& device, const std::string& what) {
      actions.push_back(device + ": " + what);
    };
    auto result = RunFleet(o);
    ASSERT_TRUE(result.ok()) << result.error().ToString();
    std::string trace;
    for (const auto& a : actions) trace += a + "\n";

    EXPECT_EQ(enrolled, 3);
    EXPECT_EQ(result->devices, 3);
    EXPECT_TRUE(result->idle) << trace;
    EXPECT_EQ(result->errors, 0) << trace;
    EXPECT_EQ(result->running, (std::map<std::string, int>{{"1.0", 1}, {"2.0", 2}})) << trace;
    EXPECT_EQ(result->fell_back, 1) << trace;
    EXPECT_EQ(result->actions["commit"], 2) << trace;
    EXPECT_GE(result->actions["install"], 4) << trace;  // one refused download, three installs
    EXPECT_GT(result->actions["none"], 0);
    EXPECT_GE(result->polls, result->rounds * 3);
    EXPECT_GT(result->PollsPerSecond(), 0);
    EXPECT_GT(result->EnrollmentsPerSecond(), 0);

    std::map<std::string, std::string> outcome;
    for (const auto& j : *server_->store().ListJobs(false, 0, 100))
      outcome[j.device_id] = std::string(JobStateName(j.state));
    EXPECT_EQ(outcome[first], "committed");
    EXPECT_EQ(outcome[second], "committed");
    EXPECT_EQ(outcome[third], "rolled-back");
    EXPECT_EQ(std::filesystem::exists(o.dir + "/" + first + "/journal.json"), !in_memory);
    if (in_memory) {
      EXPECT_FALSE(std::filesystem::exists(o.dir + "/" + first));
    }
  }
}

// The fleet loop survives any answer to its devices' polls: for a while
// every poll is answered with one of the spoiled variants of a poll answer
// (wrong types, missing or null members, huge values, not JSON); the loop
// counts the errors and goes on, and once the answers are good again every
// device ends on the target.
TEST_F(FleetTest, TheLoopSurvivesEveryBadPollAnswerAndCarriesOn) {
  const auto variants = std::make_shared<std::vector<testing::BadJson>>(
      testing::BadVariants(EncodePollAnswer({AgentAction::kInstall, 999, "e30.e30.c2ln"})));
  auto next = std::make_shared<size_t>(0);
  {
    std::lock_guard<std::mutex> lock(intercept_mu_);
    intercept_ = [variants, next](const HttpRequest& r) -> std::optional<HttpResponse> {
      if (r.target != "/v1/agent/poll" || *next >= variants->size()) return std::nullopt;
      return HttpResponse{200, "application/json", (*variants)[(*next)++].text, {}};
    };
  }
  FleetOptions o = Options();
  o.on_enrolled = [&](const FleetEnrolled&) {
    for (const char* id : {"sim-0001", "sim-0002", "sim-0003"}) {
      EXPECT_TRUE(server_->oam().OpenJob(id, "henb-fw", "2.0", "operator:test").ok());
    }
  };
  auto result = RunFleet(o);
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  {
    std::lock_guard<std::mutex> lock(intercept_mu_);
    EXPECT_EQ(*next, variants->size());  // every variant was served
  }
  EXPECT_TRUE(result->idle);
  EXPECT_GT(result->errors, 0);
  EXPECT_EQ(result->running, (std::map<std::string, int>{{"2.0", 3}}));
}

// Turns on several threads, and one connection held open at a time: each
// device closes its connections after its turn and opens new ones at its
// next, and every update still ends committed, without an error.
TEST_F(FleetTest, WithOneConnectionOpenAtATimeEveryDeviceStillUpdates) {
  FleetOptions o = Options();
  o.threads = 3;
  o.max_connections = 1;
  o.on_enrolled = [&](const FleetEnrolled&) {
    for (const char* id : {"sim-0001", "sim-0002", "sim-0003"}) {
      auto job = server_->oam().OpenJob(id, "henb-fw", "2.0", "operator:test");
      EXPECT_TRUE(job.ok()) << id << ": " << job.error().ToString();
    }
  };
  std::mutex mu;
  std::string trace;
  o.on_action = [&](const std::string& device, const std::string& what) {
    const std::lock_guard<std::mutex> lock(mu);
    trace += device + ": " + what + "\n";
  };
  auto result = RunFleet(o);
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_TRUE(result->idle) << trace;
  EXPECT_EQ(result->errors, 0) << trace;
  EXPECT_EQ(result->running, (std::map<std::string, int>{{"2.0", 3}})) << trace;
  EXPECT_EQ(result->actions["commit"], 3) << trace;
}

TEST_F(FleetTest, WithoutJobsItIsStillBusyAtTheTimeout) {
  FleetOptions o = Options();
  o.count = 1;
  o.timeout = std::chrono::seconds(0);
  auto result = RunFleet(o);
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  EXPECT_FALSE(result->idle);
  EXPECT_EQ(result->rounds, 1);
  EXPECT_EQ(result->running, (std::map<std::string, int>{{"1.0", 1}}));
  EXPECT_EQ(result->actions["none"], 1);
}

TEST_F(FleetTest, AMissingFileStopsItBeforeAnyDeviceIsMade) {
  FleetOptions o = Options();
  o.manufacturer_key = tmp_.File("no-such.key");
  auto result = RunFleet(o);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code(), ErrorCode::kNotFound) << result.error().ToString();
  EXPECT_NE(result.error().ToString().find("no-such.key"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(o.dir + "/sim-0001"));
}

}  // namespace
}  // namespace henbtrust
