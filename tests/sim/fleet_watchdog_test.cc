// The watchdog at fleet scale (docs/recovery.md): a thousand soft-TrE
// devices over HTTPS against a Server in this process; the OS of one in ten
// is taken over right after enrollment (a component changes, every command
// is ignored). Every one of them must come back on its own release, attested
// and in normal mode, through the watchdog and the recovery image alone, and
// no healthy device may be reset. A scale test: release build only (label
// "fleet", which the sanitizer presets leave out).
#include <string>

#include "sim/fleet_fixture.h"

namespace henbtrust {
namespace {

constexpr int64_t kPeriod = 60;  // seconds: long enough for a round of a thousand devices
constexpr int kDevices = 1000;

class FleetWatchdogTest : public FleetTest {
 protected:
  void SetUp() override {
    tweak_ = [](ServerOptions& o) {
      o.oam.ticket_period = kPeriod;
      o.oam.ticket_freshness = kPeriod;
    };
    FleetTest::SetUp();
  }
};

TEST_F(FleetWatchdogTest, TenPercentOfAThousandCompromisedAreAllRecoveredAndNoHealthyOneResets) {
  FleetOptions o = Options();
  o.count = kDevices;
  o.ticket_period = kPeriod;
  o.interval = std::chrono::milliseconds(0);
  o.timeout = std::chrono::seconds(900);
  for (int i = 1; i <= kDevices; i += 10) {
    char id[32];
    std::snprintf(id, sizeof id, "sim-%04d", i);
    o.compromise.push_back(id);
  }
  std::vector<std::string> actions;
  o.on_action = [&](const std::string& device, const std::string& what) {
    if (actions.size() < 20000) actions.push_back(device + ": " + what);
  };
  auto result = RunFleet(o);
  ASSERT_TRUE(result.ok()) << result.error().ToString();
  std::string trace;
  for (size_t i = 0; i < actions.size() && i < 300; ++i) trace += actions[i] + "\n";

  EXPECT_TRUE(result->idle) << trace;
  EXPECT_EQ(result->devices, kDevices);
  EXPECT_EQ(result->compromised, kDevices / 10);
  EXPECT_EQ(result->recovered, kDevices / 10) << trace;
  EXPECT_EQ(result->healthy_resets, 0) << trace;
  EXPECT_EQ(result->max_resets, 1) << trace;
  EXPECT_EQ(result->modes, (std::map<std::string, int>{{"normal", kDevices}})) << trace;
  EXPECT_EQ(result->running, (std::map<std::string, int>{{"1.0", kDevices}})) << trace;
  // Each compromised device got a recover job, committed at step 9.
  int committed = 0;
  for (const auto& j : *server_->store().ListJobs(false, 0, 10 * kDevices)) {
    if (j.kind == JobKind::kRecover && j.state == JobState::kCommitted) ++committed;
  }
  EXPECT_EQ(committed, kDevices / 10);
  std::printf("fleet of %d: enrolled in %.1f s, ran %.1f s, %d rounds, %.0f polls/s\n",
              result->devices, result->enroll_seconds, result->run_seconds, result->rounds,
              result->PollsPerSecond());
}

}  // namespace
}  // namespace henbtrust
