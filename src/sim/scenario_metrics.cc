// The scenario runner's samples of the fleet and the run's figures
// (sim/scenario_runner.h).
#include <algorithm>
#include <atomic>
#include <string>

#include "henbtrust/net/pve_protocol.h"
#include "sim/measure.h"
#include "sim/scenario_runner.h"

namespace henbtrust::sim {

Result<bool> Run::Admitted(const SimHenb& d) {
  HttpRequest q{"GET",
                "/v1/devices/" + d.id +
                    "/access-decision?occasion=recheck&max_age=" + std::to_string(s_.segw_max_age),
                "",
                "",
                "",
                segw_};
  if (pve_down_ || server_->pve() == nullptr)
    return Error(ErrorCode::kNet, "the PVE is out of reach");
  HttpResponse answer = server_->pve()->Handle(q);
  if (answer.status != 200) {
    return Error(ErrorCode::kNetStatus,
                 d.id + ": access decision: HTTP " + std::to_string(answer.status));
  }
  HENB_ASSIGN_OR_RETURN(AccessDecisionAnswer decision, DecodeAccessDecision(answer.body));
  return decision.decision == "admit";
}

Result<FleetSample> Run::Sample(bool final_sample) {
  // Devices are looked at on every turn thread: the gateway's question
  // about each one is a call into the PVE.
  struct Counts {
    std::atomic<int> normal{0}, updating{0}, quarantined{0}, recovery{0}, minimal{0}, bricked{0},
        compromised{0}, recovered{0}, wrongly_quarantined{0};
  } c;
  const int64_t t = FleetTime();
  HENB_TRY(ForEachDevice([&](SimHenb& d) -> Status {
    // A dormant device is in normal mode on a release, by its making.
    const DeviceMode mode = d.dormant ? DeviceMode::kNormal : d.device->mode();
    const bool has_release =
        d.dormant || d.device->SlotManifest(d.device->boot_control().active).has_value();
    if (d.compromised_at >= 0) ++c.compromised;
    if (d.recovered_at >= 0) ++c.recovered;
    std::optional<bool> admitted;
    if (!pve_down_) {
      HENB_ASSIGN_OR_RETURN(admitted, Admitted(d));
    }
    if (admitted.value_or(false) && d.hostile && d.compromised_at >= 0 &&
        t >= d.compromised_at + s_.segw_max_age) {
      d.admitted_while_compromised = true;
    }
    if (final_sample && admitted.has_value() && !*admitted && d.compromised_at < 0) {
      ++c.wrongly_quarantined;
    }
    // Bricked: no release to serve from outside recovery, or the run is
    // over and the recovery image still runs.
    const bool recovery = mode == DeviceMode::kRecovery;
    if (recovery ? final_sample : !has_release) {
      ++c.bricked;
    } else if (recovery) {
      ++c.recovery;
    } else if (mode == DeviceMode::kMinimal) {
      ++c.minimal;
    } else if (d.last_action != AgentAction::kNone) {
      ++c.updating;
    } else if (admitted.has_value() && !*admitted) {
      ++c.quarantined;
    } else {
      ++c.normal;
    }
    return OkStatus();
  }));
  r_.wrongly_quarantined += c.wrongly_quarantined;
  FleetSample f;
  f.t = t;
  f.normal = c.normal;
  f.updating = c.updating;
  f.quarantined = c.quarantined;
  f.recovery = c.recovery;
  f.minimal = c.minimal;
  f.bricked = c.bricked;
  f.compromised = c.compromised;
  f.recovered = c.recovered;
  return f;
}

Result<bool> Run::Settled() {
  if (pve_down_ || oam_down_) return false;
  for (const auto& d : fleet_) {
    if (d.dormant) continue;  // normal mode, nothing to do
    if (d.hostile || d.device->mode() != DeviceMode::kNormal ||
        d.last_action != AgentAction::kNone) {
      return false;
    }
  }
  for (int64_t id : campaigns_) {
    HENB_ASSIGN_OR_RETURN(CampaignView view, server_->oam().GetCampaign(id));
    if (view.campaign.state == CampaignState::kRunning ||
        view.campaign.state == CampaignState::kPaused) {
      return false;
    }
  }
  return true;
}

Status Run::Finish() {
  HENB_ASSIGN_OR_RETURN(FleetSample last, Sample(true));
  r_.timeline.push_back(last);
  r_.bricked = last.bricked;
  int64_t detect = -1;
  int64_t recover = -1;
  bool all_detected = true;
  bool all_recovered = true;
  for (const auto& d : fleet_) {
    const uint32_t resets = d.dormant ? d.dormant->resets : d.device->boot_stage()->state().resets;
    r_.max_resets = std::max(r_.max_resets, static_cast<int>(resets));
    if (d.reset_loop) ++r_.reset_loops;
    if (d.admitted_while_compromised) ++r_.compromised_admitted;
    if (d.dormant) ++r_.dormant_at_end;
    if (d.dormant) {
      ++r_.running[d.dormant->version];
    } else {
      auto m = d.device->SlotManifest(d.device->boot_control().active);
      ++r_.running[m ? m->version : "none"];
    }
    if (d.compromised_at < 0) {
      r_.healthy_resets += static_cast<int>(resets);
      continue;
    }
    if (d.detected_at >= 0) {
      detect = std::max(detect, d.detected_at);
    } else {
      all_detected = false;
    }
    if (d.recovered_at >= 0) {
      ++r_.recovered;
      recover = std::max(recover, d.recovered_at);
    } else {
      all_recovered = false;
    }
  }
  if (first_compromise_at_ >= 0) {
    if (all_detected) r_.time_to_detect_s = static_cast<double>(detect - first_compromise_at_);
    if (all_recovered) r_.time_to_recover_s = static_cast<double>(recover - first_compromise_at_);
  }
  // Jobs by final state, from the OAM's store.
  for (int64_t after = 0;;) {
    HENB_ASSIGN_OR_RETURN(auto jobs, store_->ListJobs(false, 0, 1000, after));
    if (jobs.empty()) break;
    for (const auto& j : jobs) {
      ++r_.jobs[std::string(JobStateName(j.state))];
      if (j.state != JobState::kCommitted) ++r_.jobs_not_committed;
    }
    after = jobs.back().id;
  }
  // A fault the scenario asked for that did not happen makes the run prove
  // less than it says.
  int corrupt_pending = 0;
  for (const auto& d : fleet_) corrupt_pending += d.hooks->faults.corrupt_next_download ? 1 : 0;
  r_.faults_missed = (r_.power_losses_planned - r_.power_losses) + corrupt_pending;
  r_.store_bytes_per_device =
      static_cast<double>(sim::SqliteStoreBytes(dir_ + "/server/henbtrust.db")) / r_.devices;
  r_.appraisals = appraisals_.load();
  r_.connections = static_cast<int64_t>(Accepted());
  r_.pve_cpu_us_per_appraisal = r_.appraisals > 0 ? static_cast<double>(pve_cpu_ns_.load()) /
                                                        1000.0 / static_cast<double>(r_.appraisals)
                                                  : 0;
  return OkStatus();
}

}  // namespace henbtrust::sim
