// A campaign (docs/oam.md, "Campaigns"): one release to a selection of
// devices, in batches, paced, pausing itself past a failure threshold. The
// store keeps it and its members; the OAM decides (src/oam/campaigns.cc).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "henbtrust/store/job_state.h"

namespace henbtrust {

enum class CampaignState {
  kRunning,  // opens the jobs of its batches, one batch once the one before has settled
  kPaused,   // opens no job (an operator's pause, or too many failures); open jobs go on
  kAborted,  // closed by an operator: opens no job again
  kDone,     // closed: every member's job has ended
};

inline constexpr std::array<CampaignState, 4> kAllCampaignStates = {
    CampaignState::kRunning, CampaignState::kPaused, CampaignState::kAborted, CampaignState::kDone};

constexpr std::string_view CampaignStateName(CampaignState state) {
  switch (state) {
    case CampaignState::kRunning:
      return "running";
    case CampaignState::kPaused:
      return "paused";
    case CampaignState::kAborted:
      return "aborted";
    case CampaignState::kDone:
      return "done";
  }
  return "";
}

constexpr std::optional<CampaignState> ParseCampaignState(std::string_view name) {
  for (CampaignState s : kAllCampaignStates) {
    if (CampaignStateName(s) == name) return s;
  }
  return std::nullopt;
}

struct Campaign {
  int64_t id = 0;
  std::string release_id;  // the target release ...
  std::string version;     // ... and version
  JobKind kind = JobKind::kUpdate;
  std::string selection;          // what chose the members, in words
  int batch_size = 0;             // members per batch; 0: one batch
  int max_failure_percent = 100;  // of the members' ended jobs; above it, the campaign pauses
  int rate = 0;                   // jobs opened per second at most; 0: no limit
  CampaignState state = CampaignState::kRunning;
  std::string detail;        // the last change, in words
  int64_t next_open_at = 0;  // pacing: no job opens before this time
  // The ended jobs and the failures among them when an operator last
  // resumed it: the threshold counts only what ended after.
  int ended_at_resume = 0;
  int failures_at_resume = 0;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

// A device of a campaign: its batch and, once opened, its job; `note` says
// why no job could be opened (the device was refused), which counts as refused.
struct CampaignMember {
  std::string device_id;
  int batch = 0;
  int64_t job_id = 0;
  std::string note = {};
};

}  // namespace henbtrust
