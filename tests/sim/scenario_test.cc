// Scenario files (sim/scenario.h) and their runs against the in-process
// services (sim/scenario_run.h), on small fleets.
#include "henbtrust/sim/scenario.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "henbtrust/core/file.h"
#include "henbtrust/sim/scenario_run.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

constexpr char kReleases[] = R"(
[[release]]
version = "1.0.0"
counter = 1

[[release]]
version = "2.0.0"
counter = 2

[[release]]
version = "2.1.0"
counter = 3
)";

std::string WithReleases(const std::string& head) { return head + kReleases; }

TEST(ScenarioParse, ReadsEveryKeyAndSortsTheEvents) {
  auto s = ParseScenario(WithReleases(R"(
name = "t"
devices = 12
seed = 7
tick = 30
ticket_period = 600
max_duration = 7200
factory_version = "2.0.0"

[[event]]
kind = "oam-outage"
at = 900
duration = 1800

[[event]]
kind = "compromise"
at = 300
share = 0.25
)"));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->devices, 12);
  EXPECT_EQ(s->seed, 7u);
  EXPECT_EQ(s->tick, 30);
  EXPECT_EQ(s->segw_max_age, 600);  // the ticket period, when not given
  ASSERT_EQ(s->releases.size(), 3u);
  EXPECT_EQ(s->releases[2].counter, 3u);
  ASSERT_EQ(s->events.size(), 2u);
  EXPECT_EQ(s->events[0].kind, ScenarioEventKind::kCompromise);
  EXPECT_DOUBLE_EQ(s->events[0].share, 0.25);
  EXPECT_EQ(s->events[1].kind, ScenarioEventKind::kOamOutage);
  EXPECT_EQ(s->events[1].duration, 1800);
}

TEST(ScenarioParse, NamesWhatIsWrong) {
  struct Case {
    std::string text;
    std::string says;
  } cases[] = {
      {WithReleases("name = \"t\"\nfactory_version = \"2.0.0\"\ndevcies = 3\n"),
       "'devcies' is not a key"},
      {WithReleases("factory_version = \"2.0.0\"\n"), "'name' is missing"},
      {WithReleases("name = \"t\"\nfactory_version = \"9.9\"\n"), "'9.9' is not a [[release]]"},
      {WithReleases("name = \"t\"\nfactory_version = \"2.0.0\"\ndevices = 0\n"),
       "'devices' must be from 1"},
      {WithReleases("name = \"t\"\nfactory_version = \"2.0.0\"\n[[event]]\nkind = \"meteor\"\n"),
       "'meteor' is not one of campaign, compromise"},
      {WithReleases("name = \"t\"\nfactory_version = \"2.0.0\"\n[[event]]\nkind = "
                    "\"compromise\"\nshare = 1.5\n"),
       "'share' must be a number in (0, 1]"},
      {WithReleases(
           "name = \"t\"\nfactory_version = \"2.0.0\"\n[[event]]\nkind = \"pve-outage\"\n"),
       "'duration' is missing"},
      {WithReleases("name = \"t\"\nfactory_version = \"2.0.0\"\n[[event]]\nkind = "
                    "\"campaign\"\nversion = \"3.0\"\n"),
       "release '3.0' is not a [[release]]"},
      {WithReleases("name = \"t\"\nfactory_version = \"2.0.0\"\n[[event]]\nkind = "
                    "\"oam-crash\"\nshare = 0.1\n"),
       "'share' is not a key of"},
      {"name = \"t\"\nfactory_version = \n", "t.toml:2:"},
  };
  for (const auto& c : cases) {
    auto s = ParseScenario(c.text, "t.toml");
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(s.error().message().find(c.says), std::string::npos)
        << s.error().message() << "\n  should say: " << c.says;
  }
}

TEST(ScenarioParse, EveryShippedScenarioParses) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(HENB_SCENARIOS_DIR)) {
    if (entry.path().extension() != ".toml") continue;
    auto s = LoadScenario(entry.path().string());
    EXPECT_TRUE(s.ok()) << entry.path() << ": " << s.error().ToString();
    if (s.ok()) {
      EXPECT_EQ(s->name + ".toml", entry.path().filename().string());
    }
    ++n;
  }
  EXPECT_GE(n, 10);
}

class ScenarioRunTest : public ::testing::Test {
 protected:
  ScenarioReport Play(const std::string& file, int devices, std::optional<uint64_t> seed = {},
                      ScenarioTransport transport = ScenarioTransport::kInProcess,
                      int max_connections = 1024, bool dormant = false) {
    auto s = LoadScenario(std::string(HENB_SCENARIOS_DIR) + "/" + file);
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    ScenarioRunOptions o;
    o.work_dir = dir_.path() + "/" + file + std::to_string(runs_++);
    o.devices = devices;
    o.seed = seed;
    o.transport = transport;
    o.max_connections = max_connections;
    o.dormant = dormant;
    auto r = RunScenario(*s, o);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? *r : ScenarioReport{};
  }
  ScenarioReport PlayDormant(const std::string& file, int devices, uint64_t seed) {
    return Play(file, devices, seed, ScenarioTransport::kInProcess, 1024, true);
  }
  // Two runs of one seed: the same events, rounds and timeline.
  static void ExpectSameRun(const ScenarioReport& a, const ScenarioReport& b) {
    EXPECT_EQ(a.time_to_detect_s, b.time_to_detect_s);
    EXPECT_EQ(a.time_to_recover_s, b.time_to_recover_s);
    EXPECT_EQ(a.fleet_seconds, b.fleet_seconds);
    EXPECT_EQ(a.rounds, b.rounds);
    ASSERT_EQ(a.timeline.size(), b.timeline.size());
    for (size_t i = 0; i < a.timeline.size(); ++i) {
      EXPECT_EQ(a.timeline[i].recovery, b.timeline[i].recovery) << i;
      EXPECT_EQ(a.timeline[i].recovered, b.timeline[i].recovered) << i;
    }
  }
  static int Max(const ScenarioReport& r, int FleetSample::*member) {
    int m = 0;
    for (const auto& f : r.timeline) m = std::max(m, f.*member);
    return m;
  }

  testing::TempDir dir_;
  int runs_ = 0;
};

TEST_F(ScenarioRunTest, AMassCompromiseIsDetectedAndRecoveredAndTheHealthyAreLeftAlone) {
  const ScenarioReport r = Play("mass-compromise.toml", 30);
  EXPECT_TRUE(r.Passed());
  EXPECT_TRUE(r.finished);
  EXPECT_EQ(r.compromised, 3);
  EXPECT_EQ(r.recovered, 3);
  ASSERT_TRUE(r.time_to_detect_s.has_value());
  ASSERT_TRUE(r.time_to_recover_s.has_value());
  // The watchdog fires within a ticket period of the last ticket; the
  // recovery install takes a few rounds after it.
  EXPECT_LE(*r.time_to_detect_s, 3600);
  EXPECT_LE(*r.time_to_recover_s, 3600 + 10 * 60);
  EXPECT_GE(*r.time_to_recover_s, *r.time_to_detect_s);
  EXPECT_EQ(r.healthy_resets, 0);
  EXPECT_EQ(r.max_resets, 1);
  EXPECT_EQ(Max(r, &FleetSample::recovery) + Max(r, &FleetSample::updating) > 0, true);
  EXPECT_EQ(r.jobs.at("committed"), 3);  // the recover jobs, each after step 9
  EXPECT_GT(r.appraisals, 30);
  EXPECT_GT(r.pve_cpu_us_per_appraisal, 0);
  EXPECT_GT(r.store_bytes_per_device, 0);

  // The JSON names every figure other tools read.
  const auto j = nlohmann::json::parse(ScenarioReportJson(r));
  for (const char* member :
       {"scenario", "devices", "seed", "time_to_detect_s", "time_to_recover_s", "bricked",
        "reset_loops", "wrongly_quarantined", "compromised_admitted", "compromised", "recovered",
        "pve_cpu_us_per_appraisal", "store_bytes_per_device", "memory_bytes_per_device"}) {
    EXPECT_TRUE(j.contains(member)) << member;
  }
  EXPECT_EQ(j["scenario"], "mass-compromise");
  EXPECT_EQ(j["devices"], 30);
  EXPECT_TRUE(j["passed"].get<bool>());
  const std::string csv = ScenarioTimelineCsv(r);
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "t,normal,updating,quarantined,recovery,minimal,bricked,compromised,recovered");
  EXPECT_EQ(static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n')), r.timeline.size() + 1);
}

TEST_F(ScenarioRunTest, TheSameSeedPlaysTheSameRun) {
  const ScenarioReport a = Play("mass-compromise.toml", 20, 5);
  const ScenarioReport b = Play("mass-compromise.toml", 20, 5);
  EXPECT_EQ(a.seed, 5u);
  ExpectSameRun(a, b);
}

TEST_F(ScenarioRunTest, AnOamOutageOfThreePeriodsCostsEachDeviceOneResetAndBricksNone) {
  const ScenarioReport r = Play("oam-outage.toml", 15);
  EXPECT_TRUE(r.Passed());
  EXPECT_EQ(Max(r, &FleetSample::minimal), 15);  // the whole fleet rode it out in minimal mode
  EXPECT_EQ(r.max_resets, 1);
  EXPECT_EQ(r.reset_loops, 0);
  EXPECT_EQ(r.bricked, 0);
  EXPECT_EQ(r.timeline.back().normal, 15);
  // Back within one retry period (300 s) and a round of the OAM's return.
  EXPECT_LE(r.fleet_seconds, 600 + 10'800 + 300 + 2 * 60);
}

// Dormant devices (kept as their files and TrE state while they have
// nothing to do) play a mass compromise as whole ones do: the same
// detection and recovery, seed for seed; the healthy sleep between their
// tickets, the compromised never.
TEST_F(ScenarioRunTest, DormantDevicesPlayAMassCompromiseAsWholeOnesDo) {
  const ScenarioReport whole = Play("mass-compromise.toml", 20, 3);
  const ScenarioReport dormant = PlayDormant("mass-compromise.toml", 20, 3);
  EXPECT_TRUE(dormant.Passed());
  EXPECT_TRUE(dormant.dormant);
  EXPECT_FALSE(whole.dormant);
  EXPECT_EQ(whole.wakes, 0);
  EXPECT_EQ(dormant.compromised, 2);
  EXPECT_EQ(dormant.recovered, 2);
  ExpectSameRun(whole, dormant);
  EXPECT_EQ(dormant.jobs, whole.jobs);
  EXPECT_EQ(dormant.max_resets, 1);
  EXPECT_EQ(dormant.healthy_resets, 0);
  // Each device woke for its ticket at half a period and for later ones,
  // the compromised for the compromise; most are asleep at the end, the
  // recovered among them once they have renewed.
  EXPECT_GE(dormant.wakes, 20);
  EXPECT_GE(dormant.dormant_at_end, 18);
  // Asleep, a device does not poll every round.
  EXPECT_LT(dormant.polls * 5, whole.polls);
  EXPECT_EQ(dormant.running, whole.running);
}

// An event that needs the devices (a rollback offered to every one) wakes
// each, and they sleep again; a job opened for a dormant device wakes it at
// its next turn (a connection request), so campaigns, power cut in the
// install included, commit a round later than on whole devices at most.
TEST_F(ScenarioRunTest, DormantDevicesWakeForEventsAndCampaigns) {
  const ScenarioReport rollback = PlayDormant("rollback-attack.toml", 6, 1);
  EXPECT_TRUE(rollback.Passed());
  EXPECT_EQ(rollback.rollbacks_accepted, 0);
  EXPECT_NE(rollback.notes.at(0).find("the devices refused 6 installs"), std::string::npos)
      << rollback.notes.at(0);
  EXPECT_GE(rollback.wakes, 6);
  for (const char* file : {"routine-campaign.toml", "power-loss.toml"}) {
    SCOPED_TRACE(file);
    const ScenarioReport whole = Play(file, 9, 1);
    const ScenarioReport campaign = PlayDormant(file, 9, 1);
    EXPECT_TRUE(campaign.Passed());
    EXPECT_EQ(campaign.running.at("2.1.0"), 9);
    EXPECT_EQ(campaign.jobs.at("committed"), 9);
    EXPECT_EQ(campaign.power_losses, whole.power_losses);
    EXPECT_GE(campaign.wakes, 9);
    EXPECT_LE(campaign.fleet_seconds, whole.fleet_seconds + 60);
  }
}

TEST_F(ScenarioRunTest, DormantDevicesAreForTheInProcessTransport) {
  auto s = LoadScenario(std::string(HENB_SCENARIOS_DIR) + "/mass-compromise.toml");
  ASSERT_TRUE(s.ok());
  ScenarioRunOptions o;
  o.work_dir = dir_.path() + "/https-dormant";
  o.devices = 2;
  o.transport = ScenarioTransport::kHttps;
  o.dormant = true;
  auto r = RunScenario(*s, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(ScenarioRunTest, ARollbackAttackInstallsNothingOld) {
  const ScenarioReport r = Play("rollback-attack.toml", 10);
  EXPECT_TRUE(r.Passed());
  EXPECT_EQ(r.rollbacks_accepted, 0);
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_NE(r.notes[0].find("the OAM refused 10 jobs, the devices refused 10 installs"),
            std::string::npos)
      << r.notes[0];
  EXPECT_EQ(r.running.at("2.0.0"), 10);
}

TEST_F(ScenarioRunTest, CampaignsCommitThroughCorruptionOutagesAndACrash) {
  for (const char* file : {"routine-campaign.toml", "corrupted-downloads.toml", "pve-outage.toml",
                           "oam-crash.toml", "revocation.toml", "power-loss.toml"}) {
    SCOPED_TRACE(file);
    const ScenarioReport r = Play(file, 12);
    EXPECT_TRUE(r.Passed());
    EXPECT_EQ(r.running.at("2.1.0"), 12);
    EXPECT_EQ(r.jobs.at("committed"), 12);
    EXPECT_EQ(r.wrongly_quarantined, 0);
    EXPECT_EQ(r.jobs_not_committed, 0);
    EXPECT_EQ(r.faults_missed, 0);
    if (std::string(file) == "corrupted-downloads.toml") {
      // Every altered bundle was refused at step 6, before a byte was written.
      EXPECT_GT(r.corrupt_downloads_planned, 0);
      EXPECT_EQ(r.installs_refused, r.corrupt_downloads_planned);
    }
    if (std::string(file) == "power-loss.toml") {
      // A third of the fleet loses power in its install; each comes back
      // on what its files hold and commits when the OAM orders it again.
      EXPECT_EQ(r.power_losses, 4);
      EXPECT_GT(r.errors, 0);
    }
  }
}

// Over HTTPS: the services listen on a loopback port and every device
// reaches them on a TLS connection of its own certificate, over one shared
// client context; the recovery image connects with its own identity. The
// connections are counted by the server that accepted them.
TEST_F(ScenarioRunTest, OverHttpsCampaignsCommitAndACompromiseIsRecovered) {
  {
    SCOPED_TRACE("routine campaign");
    const ScenarioReport kept = Play("routine-campaign.toml", 8, {}, ScenarioTransport::kHttps);
    const ScenarioReport bounded =
        Play("routine-campaign.toml", 8, {}, ScenarioTransport::kHttps, /*max_connections=*/3);
    for (const ScenarioReport* r : {&kept, &bounded}) {
      EXPECT_TRUE(r->Passed());
      EXPECT_EQ(r->transport, "https");
      EXPECT_EQ(r->running.at("2.1.0"), 8);
      EXPECT_EQ(r->jobs.at("committed"), 8);
      // Pre-update and post-update appraisals: the devices' pushes,
      // counted at the HTTPS server, and step 9 on the OAM's link.
      EXPECT_GE(r->appraisals, 16);
      EXPECT_GT(r->pve_cpu_us_per_appraisal, 0);
    }
    // Each device's enrollment and its agent's connection, kept from round
    // to round...
    EXPECT_GE(kept.connections, 2 * 8);
    EXPECT_LE(kept.connections, 3 * 8);
    // ... but beyond the bound, a device opens one in each round it speaks.
    EXPECT_GT(bounded.connections, kept.connections + 5 * 3);
    const auto j = nlohmann::json::parse(ScenarioReportJson(bounded));
    EXPECT_EQ(j["transport"], "https");
    EXPECT_EQ(j["connections"], bounded.connections);
  }
  {
    SCOPED_TRACE("mass compromise");
    const ScenarioReport r = Play("mass-compromise.toml", 20, {}, ScenarioTransport::kHttps);
    EXPECT_TRUE(r.Passed());
    EXPECT_EQ(r.compromised, 2);
    EXPECT_EQ(r.recovered, 2);
    EXPECT_EQ(r.healthy_resets, 0);
    EXPECT_EQ(r.jobs.at("committed"), 2);
    // Enrollment and the agent's connection for every device, and the
    // recovery image's of each compromised one.
    EXPECT_GE(r.connections, 2 * 20 + 2);
  }
  {
    // The new process listens on the crashed one's port, and every device
    // connects to it again.
    SCOPED_TRACE("OAM crash");
    const ScenarioReport r = Play("oam-crash.toml", 6, {}, ScenarioTransport::kHttps);
    EXPECT_TRUE(r.Passed());
    EXPECT_EQ(r.running.at("2.1.0"), 6);
    EXPECT_EQ(r.jobs_not_committed, 0);
    EXPECT_GE(r.connections, 3 * 6);
  }
}

TEST_F(ScenarioRunTest, OverHttpsTheSameSeedPlaysTheSameRun) {
  const ScenarioReport a = Play("mass-compromise.toml", 10, 7, ScenarioTransport::kHttps);
  const ScenarioReport b = Play("mass-compromise.toml", 10, 7, ScenarioTransport::kHttps);
  EXPECT_TRUE(a.Passed());
  ExpectSameRun(a, b);
}

// On the machine's clock the rounds run back to back: the campaign ends in
// seconds, not in ticks of fleet time, and the run says how many jobs it
// committed per second.
TEST_F(ScenarioRunTest, OnTheMachinesClockACampaignTakesSecondsNotTicks) {
  auto s = ParseScenario(WithReleases(R"(
name = "throughput"
devices = 6
tick = 60
max_duration = 600
factory_version = "2.0.0"

[[event]]
kind = "campaign"
at = 0
version = "2.1.0"
)"));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  for (const ScenarioTransport transport :
       {ScenarioTransport::kInProcess, ScenarioTransport::kHttps}) {
    SCOPED_TRACE(std::string(ScenarioTransportName(transport)));
    ScenarioRunOptions o;
    o.work_dir = dir_.path() + "/machine" + std::to_string(runs_++);
    o.transport = transport;
    o.clock = ScenarioClock::kMachine;
    auto r = RunScenario(*s, o);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_TRUE(r->Passed());
    EXPECT_EQ(r->clock, "machine");
    EXPECT_EQ(r->running.at("2.1.0"), 6);
    EXPECT_EQ(r->jobs.at("committed"), 6);
    // An update takes several rounds; on fleet time each would add 60 s.
    EXPECT_GE(r->rounds, 3);
    EXPECT_LT(r->fleet_seconds, 60);
    EXPECT_LE(r->play_wall_seconds, r->wall_seconds);
    EXPECT_GT(r->play_wall_seconds, 0);
  }
}

// In one process nothing listens: no connection is accepted.
TEST_F(ScenarioRunTest, InProcessNoDeviceOpensAConnection) {
  const ScenarioReport r = Play("routine-campaign.toml", 4);
  EXPECT_TRUE(r.Passed());
  EXPECT_EQ(r.transport, "in-process");
  EXPECT_EQ(r.connections, 0);
}

// A fault the scenario asks for that never happens fails the run: here the
// downloads to alter never come, since nothing is ordered.
TEST_F(ScenarioRunTest, AFaultThatNeverHappensFailsTheRun) {
  auto s = ParseScenario(WithReleases(R"(
name = "no-download"
devices = 4
tick = 60
max_duration = 3600
factory_version = "2.0.0"

[[event]]
kind = "corrupt-downloads"
at = 0
share = 0.5
)"));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  ScenarioRunOptions o;
  o.work_dir = dir_.path() + "/no-download";
  auto r = RunScenario(*s, o);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_TRUE(r->finished);
  EXPECT_EQ(r->corrupt_downloads_planned, 2);
  EXPECT_EQ(r->faults_missed, 2);
  EXPECT_FALSE(r->Passed());
}

// A run replaces its work directory, but only one that a run made.
TEST_F(ScenarioRunTest, AWorkDirectoryOfSomethingElseIsRefusedAndKept) {
  const std::string precious = dir_.File("precious");
  ASSERT_TRUE(std::filesystem::create_directories(precious));
  ASSERT_TRUE(WriteFileAtomic(precious + "/keep", AsBytes("mine")).ok());
  auto s = LoadScenario(std::string(HENB_SCENARIOS_DIR) + "/rollback-attack.toml");
  ASSERT_TRUE(s.ok());
  ScenarioRunOptions o;
  o.work_dir = precious;
  o.devices = 2;
  auto r = RunScenario(*s, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(std::filesystem::exists(precious + "/keep"));
}

}  // namespace
}  // namespace henbtrust
