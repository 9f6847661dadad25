// henbtrust sim run: plays a scenario file (scenarios/*.toml) against the
// OAM and PVE code, on fleet time, its devices calling the services in this
// process or over HTTPS, and writes its figures as JSON and its timeline as
// CSV (docs/simulation.md).
#include <sys/resource.h>

#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "henbtrust/core/file.h"
#include "henbtrust/sim/scenario_run.h"

namespace henbtrust::cli {

namespace {

struct SimRunArgs {
  std::string scenario;
  std::string out = "sim-out";
  std::string work;
  uint64_t seed = 0;
  int devices = 0;
  ScenarioTransport transport = ScenarioTransport::kInProcess;
  ScenarioClock clock = ScenarioClock::kFleet;
  int max_connections = 1024;
  bool dormant = false;
  bool quiet = false;
};

// Over HTTPS both ends of every device's connection are this process's
// descriptors: take all the hard limit allows (the run keeps as many
// connections open as the soft limit leaves room for).
void RaiseDescriptorLimit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == files.rlim_max) return;
  files.rlim_cur = files.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &files);
}

int RunScenarioCommand(const SimRunArgs& a) {
  auto scenario = LoadScenario(a.scenario);
  if (!scenario.ok()) return Fail(scenario.error());
  ScenarioRunOptions options;
  options.work_dir = a.work.empty() ? a.out + "/" + scenario->name + ".work" : a.work;
  if (a.seed != 0) options.seed = a.seed;
  if (a.devices != 0) options.devices = a.devices;
  options.transport = a.transport;
  options.clock = a.clock;
  if (a.transport == ScenarioTransport::kHttps) RaiseDescriptorLimit();
  options.max_connections = a.max_connections;
  options.dormant = a.dormant;
  if (!a.quiet) {
    options.progress = [](const std::string& line) { std::cout << "  " << line << std::endl; };
  }
  std::cout << "scenario " << scenario->name << ": " << options.devices.value_or(scenario->devices)
            << " devices, seed " << options.seed.value_or(scenario->seed)
            << (a.transport == ScenarioTransport::kHttps
                    ? ", over HTTPS to the services on 127.0.0.1"
                    : ", in-process")
            << (a.dormant ? ", idle devices dormant" : "")
            << (a.clock == ScenarioClock::kMachine ? ", on the machine's clock" : ", on fleet time")
            << std::endl;
  auto report = RunScenario(*scenario, options);
  if (!report.ok()) return Fail(report.error());
  const std::string json = a.out + "/" + scenario->name + ".json";
  const std::string csv = a.out + "/" + scenario->name + ".csv";
  if (auto st = Env::Default()->CreateDirectories(a.out); !st.ok()) return Fail(st.error());
  if (auto st = WriteFileAtomic(json, AsBytes(ScenarioReportJson(*report))); !st.ok()) {
    return Fail(st.error());
  }
  if (auto st = WriteFileAtomic(csv, AsBytes(ScenarioTimelineCsv(*report))); !st.ok()) {
    return Fail(st.error());
  }
  const auto& r = *report;
  auto seconds = [](const std::optional<double>& v) {
    return v ? std::to_string(static_cast<int64_t>(*v)) + " s" : std::string("-");
  };
  const auto committed = r.jobs.find("committed");
  const int jobs_committed = committed == r.jobs.end() ? 0 : committed->second;
  // On the machine's clock the rounds' wall time is the run's time, and
  // the jobs committed in it a rate.
  std::ostringstream rate;
  if (r.clock == "machine" && r.play_wall_seconds > 0) {
    rate << ", " << std::fixed << std::setprecision(1) << r.play_wall_seconds
         << " s in the rounds: " << jobs_committed << " jobs committed, "
         << jobs_committed / r.play_wall_seconds << " per second";
  }
  std::cout << (r.clock == "machine" ? "run time " : "fleet time ") << r.fleet_seconds << " s in "
            << r.rounds << " rounds (" << static_cast<int64_t>(r.wall_seconds) << " s of wall time"
            << rate.str() << "); " << r.appraisals << " appraisals, "
            << static_cast<int64_t>(r.pve_cpu_us_per_appraisal) << " us of PVE CPU each"
            << (r.connections > 0 ? "; " + std::to_string(r.connections) + " TLS connections"
                                  : std::string())
            << "\n"
            << "compromised " << r.compromised << ", recovered " << r.recovered
            << "; time to detect " << seconds(r.time_to_detect_s) << ", to recover "
            << seconds(r.time_to_recover_s) << "\n"
            << "bricked " << r.bricked << ", reset loops " << r.reset_loops
            << ", healthy devices quarantined " << r.wrongly_quarantined
            << ", compromised devices admitted " << r.compromised_admitted
            << ", rollbacks accepted " << r.rollbacks_accepted << ", jobs not committed "
            << r.jobs_not_committed << ", faults that did not happen " << r.faults_missed << "\n"
            << "store " << static_cast<int64_t>(r.store_bytes_per_device)
            << " bytes per device; memory " << static_cast<int64_t>(r.memory_bytes_per_device)
            << " bytes per device\n"
            << "wrote " << json << " and " << csv << "\n";
  if (!r.Passed()) {
    std::cout << "FAILED: "
              << (r.finished ? "a must-be-zero figure is not zero"
                             : "the fleet had not settled at max_duration")
              << std::endl;
    return kExitInvalid;
  }
  std::cout << "passed" << std::endl;
  return kExitOk;
}

}  // namespace

void RegisterSimRunCommand(CLI::App& sim, int* exit_code) {
  auto a = std::make_shared<SimRunArgs>();
  CLI::App* run = sim.add_subcommand(
      "run",
      "Play a fleet scenario (scenarios/*.toml) against the OAM and PVE, on fleet time, the "
      "devices calling them in this process or over HTTPS (--transport); exits 1 when a "
      "must-be-zero figure (bricked, reset loops, healthy devices "
      "quarantined, compromised devices admitted, rollbacks accepted, jobs not committed, "
      "faults that did not happen) is not zero, a compromised device is not back, or the fleet "
      "has not settled by max_duration (docs/simulation.md)");
  run->add_option("--scenario", a->scenario, "the scenario file (TOML)")
      ->required()
      ->check(CLI::ExistingFile);
  run->add_option("--out", a->out, "where NAME.json and NAME.csv go")->capture_default_str();
  run->add_option("--work", a->work, "the run's files (default: OUT/NAME.work; replaced)");
  run->add_option("--seed", a->seed, "instead of the scenario's seed");
  run->add_option("--devices", a->devices, "instead of the scenario's fleet size")
      ->check(CLI::Range(1, 10'000'000));
  const std::map<std::string, ScenarioTransport> transports{
      {"in-process", ScenarioTransport::kInProcess}, {"https", ScenarioTransport::kHttps}};
  run->add_option("--transport", a->transport,
                  "in-process: the devices call the services' handlers (no socket; for scale); "
                  "https: the services listen on 127.0.0.1 and each device connects with its own "
                  "certificate (the devices' whole path; the operator's and the gateway's calls "
                  "stay in the process)")
      ->transform(CLI::CheckedTransformer(transports, CLI::ignore_case))
      ->default_str("in-process");
  const std::map<std::string, ScenarioClock> clocks{{"fleet", ScenarioClock::kFleet},
                                                    {"machine", ScenarioClock::kMachine}};
  run->add_option("--clock", a->clock,
                  "fleet: a round moves a virtual clock by the scenario's tick (days in minutes; "
                  "deterministic); machine: rounds run back to back on the machine's clock and the "
                  "scenario's seconds are real seconds (for throughput)")
      ->transform(CLI::CheckedTransformer(clocks, CLI::ignore_case))
      ->default_str("fleet");
  run->add_option("--max-connections", a->max_connections,
                  "over HTTPS, devices that keep their connection open between rounds at most "
                  "(fewer if the descriptor limit leaves room for fewer, at five a connection)")
      ->check(CLI::Range(1, 1'000'000))
      ->capture_default_str();
  run->add_flag("--dormant", a->dormant,
                "in-process only, for fleets too large to hold whole: a device with nothing to "
                "do is kept as its files and TrE state until its ticket is due or an event "
                "needs it, and polls the OAM at those turns only");
  run->add_flag("--quiet", a->quiet, "no progress lines");
  OnRun(run, exit_code, [a] { return RunScenarioCommand(*a); });
}

}  // namespace henbtrust::cli
