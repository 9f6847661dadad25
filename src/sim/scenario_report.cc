#include "henbtrust/sim/scenario_run.h"

#include <nlohmann/json.hpp>

namespace henbtrust {

namespace {

using Json = nlohmann::ordered_json;

template <typename T>
Json OrNull(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

}  // namespace

bool ScenarioReport::Passed() const {
  return finished && bricked == 0 && reset_loops == 0 && wrongly_quarantined == 0 &&
         compromised_admitted == 0 && rollbacks_accepted == 0 && jobs_not_committed == 0 &&
         faults_missed == 0 && recovered == compromised;
}

std::string ScenarioReportJson(const ScenarioReport& r) {
  Json j;
  j["scenario"] = r.scenario;
  j["transport"] = r.transport;
  j["clock"] = r.clock;
  j["devices"] = r.devices;
  j["seed"] = r.seed;
  j["time_to_detect_s"] = OrNull(r.time_to_detect_s);
  j["time_to_recover_s"] = OrNull(r.time_to_recover_s);
  j["bricked"] = r.bricked;
  j["reset_loops"] = r.reset_loops;
  j["wrongly_quarantined"] = r.wrongly_quarantined;
  j["compromised_admitted"] = r.compromised_admitted;
  j["rollbacks_accepted"] = r.rollbacks_accepted;
  j["power_losses"] = r.power_losses;
  j["power_losses_planned"] = r.power_losses_planned;
  j["corrupt_downloads_planned"] = r.corrupt_downloads_planned;
  j["installs_refused"] = r.installs_refused;
  j["jobs_not_committed"] = r.jobs_not_committed;
  j["faults_missed"] = r.faults_missed;
  j["compromised"] = r.compromised;
  j["recovered"] = r.recovered;
  j["pve_cpu_us_per_appraisal"] = r.pve_cpu_us_per_appraisal;
  j["store_bytes_per_device"] = r.store_bytes_per_device;
  j["memory_bytes_per_device"] = r.memory_bytes_per_device;
  j["passed"] = r.Passed();
  j["finished"] = r.finished;
  j["fleet_seconds"] = r.fleet_seconds;
  j["wall_seconds"] = r.wall_seconds;
  j["play_wall_seconds"] = r.play_wall_seconds;
  j["rounds"] = r.rounds;
  j["appraisals"] = r.appraisals;
  j["polls"] = r.polls;
  j["errors"] = r.errors;
  j["connections"] = r.connections;
  j["dormant"] = r.dormant;
  j["wakes"] = r.wakes;
  j["dormant_at_end"] = r.dormant_at_end;
  j["max_resets"] = r.max_resets;
  j["healthy_resets"] = r.healthy_resets;
  j["running"] = r.running;
  j["jobs"] = r.jobs;
  j["notes"] = r.notes;
  Json timeline = Json::array();
  for (const auto& f : r.timeline) {
    timeline.push_back({{"t", f.t},
                        {"normal", f.normal},
                        {"updating", f.updating},
                        {"quarantined", f.quarantined},
                        {"recovery", f.recovery},
                        {"minimal", f.minimal},
                        {"bricked", f.bricked},
                        {"compromised", f.compromised},
                        {"recovered", f.recovered}});
  }
  j["timeline"] = std::move(timeline);
  return j.dump(2) + "\n";
}

std::string ScenarioTimelineCsv(const ScenarioReport& r) {
  std::string out =
      "t,normal,updating,quarantined,recovery,minimal,bricked,compromised,recovered\n";
  for (const auto& f : r.timeline) {
    for (int64_t v :
         {f.t, int64_t{f.normal}, int64_t{f.updating}, int64_t{f.quarantined}, int64_t{f.recovery},
          int64_t{f.minimal}, int64_t{f.bricked}, int64_t{f.compromised}}) {
      out += std::to_string(v) + ",";
    }
    out += std::to_string(f.recovered) + "\n";
  }
  return out;
}

}  // namespace henbtrust
