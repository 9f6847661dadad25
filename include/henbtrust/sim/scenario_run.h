// Plays a scenario (sim/scenario.h) against the real OAM and PVE code
// (docs/simulation.md), on a virtual clock that a round of the fleet moves
// by the scenario's tick, so that days of fleet time take minutes (or, to
// measure throughput, on the machine's clock: ScenarioClock). The
// devices reach the services in one of two ways (ScenarioTransport): through
// their handlers in this process, each device through an InProcessChannel
// (no socket, no TLS), for scale; or over HTTPS, to the same services
// serving on a loopback port, each device with its own certificate, for the
// whole path. Deterministic for a seed on fleet time: which devices an event
// strikes, and the order of the rounds, come from it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "henbtrust/core/result.h"
#include "henbtrust/sim/scenario.h"

namespace henbtrust {

enum class ScenarioTransport {
  kInProcess,  // the services' handlers, called in this process
  kHttps,      // HTTPS to the services, started in this process on 127.0.0.1
};

std::string_view ScenarioTransportName(ScenarioTransport transport);  // "in-process", "https"

enum class ScenarioClock {
  // Fleet time: a round moves it by the scenario's tick, so that days take
  // minutes.
  kFleet,
  // The machine's clock: rounds run back to back, and the scenario's
  // seconds (events, ticket period, max_duration) are real seconds; for
  // throughput.
  kMachine,
};

std::string_view ScenarioClockName(ScenarioClock clock);  // "fleet", "machine"

struct ScenarioRunOptions {
  // The run's files: the server directory and store, the releases, one
  // directory per device. Replaced if present.
  std::string work_dir;
  std::optional<uint64_t> seed = std::nullopt;  // instead of the scenario's
  std::optional<int> devices = std::nullopt;    // instead of the scenario's
  ScenarioTransport transport = ScenarioTransport::kInProcess;
  ScenarioClock clock = ScenarioClock::kFleet;
  // Over HTTPS, every device shares one client TLS context and presents its
  // own certificate; at most this many devices keep their connection open
  // between rounds (the others close it after their turn and open a new one
  // at their next).
  int max_connections = 1024;
  // In the process only: a device with nothing to do (normal mode, no
  // update, fault or compromise pending, its ticket renewed) is kept as
  // bytes, its files and its TrE's state, until its ticket is next due or
  // an event needs it, and is then made whole again without a reboot; it
  // polls the OAM at those turns only, not every round. For fleets too
  // large to hold whole (docs/simulation.md).
  bool dormant = false;
  // A line now and then (enrollment, each event, each tenth of the run).
  std::function<void(const std::string& line)> progress = nullptr;
};

// The fleet at one moment; each device counted once, in the first of these
// that applies: bricked, recovery, minimal, updating, quarantined, normal.
struct FleetSample {
  int64_t t = 0;  // seconds of fleet time since the fleet enrolled
  int normal = 0;
  int updating = 0;     // an update, reinstall or recovery job open for it
  int quarantined = 0;  // the gateway's access decision refuses it
  int recovery = 0;     // its recovery image runs
  int minimal = 0;      // minimal mode: serving, updates held
  int bricked = 0;      // serves nothing and cannot come back by itself
  int compromised = 0;  // struck by a compromise so far
  int recovered = 0;    // ... and back in normal service since
};

// The figures of one run. Times are seconds of fleet time, null (nullopt)
// when the scenario has no compromise. The must-be-zero figures:
// bricked, reset_loops, wrongly_quarantined, compromised_admitted,
// rollbacks_accepted, jobs_not_committed and faults_missed.
struct ScenarioReport {
  std::string scenario;
  std::string transport = "in-process";  // ScenarioTransportName
  std::string clock = "fleet";           // ScenarioClockName
  int devices = 0;
  uint64_t seed = 0;
  // From the compromise until the last compromised device was reset into
  // its recovery image and had contacted the OAM.
  std::optional<double> time_to_detect_s;
  // From the compromise until the last compromised device was back in
  // normal service on a verified release.
  std::optional<double> time_to_recover_s;
  int bricked = 0;               // not serving at the end: recovery image still running, no release
  int reset_loops = 0;           // devices reset twice within two ticket periods
  int wrongly_quarantined = 0;   // never-compromised devices the gateway refuses at the end
  int compromised_admitted = 0;  // compromised devices the gateway admitted once it could know
  int rollbacks_accepted = 0;    // older releases the OAM ordered or a device installed
  int jobs_not_committed = 0;    // jobs that ended otherwise, or had not ended, at the end
  int faults_missed = 0;         // power losses and altered downloads asked for that did not happen
  int compromised = 0;
  int recovered = 0;
  double pve_cpu_us_per_appraisal = 0;  // CPU in the PVE's handler per appraisal
  double store_bytes_per_device = 0;    // the store's files at the end, per device
  double memory_bytes_per_device = 0;   // resident memory the devices added, per device
  // More of what happened.
  int64_t fleet_seconds = 0;  // fleet time the run took
  double wall_seconds = 0;
  // Of wall_seconds, the rounds' (after enrollment; the samples of the
  // fleet not counted).
  double play_wall_seconds = 0;
  int rounds = 0;
  int64_t appraisals = 0;
  int64_t polls = 0;
  int64_t errors = 0;  // polls and watchdog rounds that failed (outages included)
  // TLS connections of the devices' channels (HTTPS only; not the
  // recovery image's).
  int64_t connections = 0;
  int power_losses = 0;  // devices whose power was cut in an update, and came back
  int power_losses_planned = 0;
  int corrupt_downloads_planned = 0;
  int installs_refused = 0;  // installs step 6 refused before writing (altered bundles)
  bool dormant = false;      // ScenarioRunOptions::dormant
  int64_t wakes = 0;         // dormant devices made whole again for a turn or an event
  int dormant_at_end = 0;    // devices dormant when the run ended
  int max_resets = 0;        // the most watchdog resets of one device
  int healthy_resets = 0;
  std::map<std::string, int> running = {};  // devices by the version they run at the end
  std::map<std::string, int> jobs = {};     // jobs by final state
  std::vector<std::string> notes = {};      // what the events did, in words
  std::vector<FleetSample> timeline = {};
  bool finished = false;  // the fleet settled before max_duration

  // The must-be-zero figures are zero and the fleet settled.
  bool Passed() const;
};

Result<ScenarioReport> RunScenario(const Scenario& scenario, const ScenarioRunOptions& options);

// The report as JSON: the members listed on ScenarioReport, named as there,
// "timeline" an array of samples and "passed" the verdict.
std::string ScenarioReportJson(const ScenarioReport& report);
// The timeline as CSV with a header line: t,normal,updating,quarantined,
// recovery,minimal,bricked,compromised,recovered.
std::string ScenarioTimelineCsv(const ScenarioReport& report);

}  // namespace henbtrust
