// What each scenario event does to the fleet and the services
// (sim/scenario_runner.h).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "henbtrust/net/protocol.h"
#include "henbtrust/sim/compromise.h"
#include "sim/scenario_runner.h"

namespace henbtrust::sim {

// `share` of the fleet, at least one device, drawn with the run's seed.
std::vector<size_t> Run::Pick(double share) {
  std::vector<size_t> all(fleet_.size());
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng_);
  const auto n = std::max<size_t>(
      1, static_cast<size_t>(std::llround(share * static_cast<double>(fleet_.size()))));
  all.resize(std::min(n, all.size()));
  std::sort(all.begin(), all.end());
  return all;
}

Status Run::Apply(const ScenarioEvent& e) {
  const int64_t t = FleetTime();
  std::string note =
      "t=" + std::to_string(t) + "s " + std::string(ScenarioEventKindName(e.kind)) + ": ";
  switch (e.kind) {
    case ScenarioEventKind::kCampaign: {
      CreateCampaignRequest c;
      c.release_id = kReleaseId;
      c.version = e.version;
      c.selection.hardware_model = kModel;
      c.batch_size = e.batch_size;
      auto view = server_->oam().CreateCampaign(c, "sim:operator");
      if (!view.ok()) return view.error().WithContext("campaign to " + e.version);
      campaigns_.push_back(view->campaign.id);
      note += "campaign " + std::to_string(view->campaign.id) + " to " + e.version + " over " +
              std::to_string(view->members) + " devices";
      break;
    }
    case ScenarioEventKind::kCompromise: {
      const auto picked = Pick(e.share);
      for (size_t i : picked) {
        SimHenb& d = fleet_[i];
        HENB_TRY(Wake(d));
        HENB_TRY(ImplantActiveSlot(*d.device));
        d.hostile = true;
        if (d.compromised_at < 0) ++r_.compromised;
        d.compromised_at = t;
        d.recovered_at = -1;
        d.detected_at = -1;
      }
      if (first_compromise_at_ < 0) first_compromise_at_ = t;
      note += std::to_string(picked.size()) +
              " devices' OS taken over (a component changed; every command ignored)";
      break;
    }
    case ScenarioEventKind::kPowerLoss: {
      const auto picked = Pick(e.share);
      for (size_t i : picked) {
        fleet_[i].power_loss_pending = true;
        ++r_.power_losses_planned;
        fleet_[i].hooks->before_install = [this, i] { ArmPowerLoss(i); };
        // A cut the install did not reach (or an install refused before it
        // wrote) is withdrawn: the power goes in the install or not at all,
        // and faults_missed says so.
        fleet_[i].hooks->after_install = [this, i] {
          if (!env_.PowerIsCut(fleet_[i].dir)) env_.RestorePower(fleet_[i].dir);
        };
      }
      note += std::to_string(picked.size()) + " devices lose power during their next install";
      break;
    }
    case ScenarioEventKind::kCorruptDownloads: {
      const auto picked = Pick(e.share);
      for (size_t i : picked) fleet_[i].hooks->faults.corrupt_next_download = true;
      r_.corrupt_downloads_planned += static_cast<int>(picked.size());
      note += std::to_string(picked.size()) + " devices' next download altered on the path";
      break;
    }
    case ScenarioEventKind::kRollback: {
      // The OAM is asked for the older release (a stolen operator account,
      // say), and every device is handed its bundle directly (a path attack).
      int refused_by_oam = 0;
      int refused_by_device = 0;
      for (auto& d : fleet_) {
        auto job = server_->oam().OpenJob(d.id, kReleaseId, e.version, "sim:attacker");
        if (job.ok()) {
          ++r_.rollbacks_accepted;  // the OAM ordered a downgrade
        } else {
          ++refused_by_oam;
        }
        HENB_TRY(Wake(d));
        if (d.hostile || d.device->mode() != DeviceMode::kNormal) continue;
        auto installed =
            d.device->Install(bundles_.at(e.version), vendor_->trust(), env_.NowUnixSeconds());
        if (installed.ok()) {
          ++r_.rollbacks_accepted;
          (void)d.device->Rollback("sim: a rollback attack's install, abandoned");
        } else {
          ++refused_by_device;
        }
        HENB_TRY(Doze(d));
      }
      note += e.version + " offered: the OAM refused " + std::to_string(refused_by_oam) +
              " jobs, the devices refused " + std::to_string(refused_by_device) +
              " installs, accepted " + std::to_string(r_.rollbacks_accepted);
      break;
    }
    case ScenarioEventKind::kPveOutage:
      pve_down_ = true;
      pve_back_at_ = t + e.duration;
      note += "the PVE is out of reach for " + std::to_string(e.duration) + " s";
      break;
    case ScenarioEventKind::kOamOutage:
      oam_down_ = true;
      oam_back_at_ = t + e.duration;
      note += "the OAM is out of reach for " + std::to_string(e.duration) + " s";
      break;
    case ScenarioEventKind::kOamCrash:
      HENB_TRY(CrashServer());
      note += "the OAM process died; a new one opened the store and took over";
      break;
    case ScenarioEventKind::kRevoke: {
      ReleaseRevocation rev{kReleaseId, e.version, e.safe_version, "sim: revoked", 0};
      auto outcome = server_->oam().RevokeRelease(rev, "sim:operator");
      if (!outcome.ok()) return outcome.error().WithContext("revocation of " + e.version);
      if (outcome->campaign) campaigns_.push_back(outcome->campaign->campaign.id);
      note += e.version + " revoked; " + std::to_string(outcome->devices) +
              " devices ran it and are reinstalled to " + e.safe_version;
      break;
    }
  }
  Say(note);
  r_.notes.push_back(note);
  return OkStatus();
}

// The power goes at a file operation of the install that starts now, drawn
// from the seed and the device among its first 10 (an install of the
// simulator's releases makes about 14: journal, slot cleared, two images,
// manifest, journal, boot control; each atomic write is a create and a
// rename). Called in the device's turn, which other devices' turns run
// beside: the draw is the device's own.
void Run::ArmPowerLoss(size_t index) {
  SimHenb& d = fleet_[index];
  if (!d.power_loss_pending) return;
  d.power_loss_pending = false;
  // seed_seq takes 32 bits of each value.
  std::seed_seq seq{static_cast<uint32_t>(r_.seed), static_cast<uint32_t>(r_.seed >> 32),
                    static_cast<uint32_t>(index), d.power_cuts_armed++};
  std::mt19937_64 draw(seq);
  const int after = static_cast<int>(draw() % 10) + 1;
  env_.CutPowerAfter(d.dir, after, [this, id = d.id] {
    const MutexLock lock(power_mu_);
    if (powered_off_.insert(id).second) ++powered_off_count_;
  });
}

}  // namespace henbtrust::sim
