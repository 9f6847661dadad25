// The kinds and states of an update job (docs/oam.md, "A job, step by step"). The
// transitions between them are the OAM's (include/henbtrust/oam/job_machine.h);
// this header only names them, for the store, the wire and the CLI, which
// are the only places where a state is text.
#pragma once

#include <array>
#include <optional>
#include <string_view>

namespace henbtrust {

// What a job is for. All three end only on step 9: a fresh quote the PVE
// verifies whose TIM equals the expected TIM of the target release.
enum class JobKind {
  kUpdate,     // to a newer release; ordered only after an affirming appraisal
  kReinstall,  // a known-good release into the inactive slot, without an affirming appraisal
  kRecover,    // the recovery image installs a safe release into both slots
};

inline constexpr std::array<JobKind, 3> kAllJobKinds = {JobKind::kUpdate, JobKind::kReinstall,
                                                        JobKind::kRecover};

// The text of a kind: in the store's `kind` column, in JSON and in the CLI.
constexpr std::string_view JobKindName(JobKind kind) {
  switch (kind) {
    case JobKind::kUpdate:
      return "update";
    case JobKind::kReinstall:
      return "reinstall";
    case JobKind::kRecover:
      return "recover";
  }
  return "";
}

constexpr std::optional<JobKind> ParseJobKind(std::string_view name) {
  for (JobKind k : kAllJobKinds) {
    if (JobKindName(k) == name) return k;
  }
  return std::nullopt;
}

enum class JobState {
  kOpened,       // step 1; an update waits for an affirming appraisal (steps 2-4)
  kOrdered,      // step 5 done: an install order is signed; the device is at 6-8
  kReported,     // the device reported (step 8); step 9 pending
  kCommitting,   // step 9 passed: a commit order is signed
  kRollingBack,  // step 9 failed: a rollback order is signed
  kCommitted,    // closed: the device runs the target, verified
  kRolledBack,   // closed: the device runs its previous release, verified
  kRefused,      // closed: the device did not verify before the update
  kFailed,       // closed: retries used up, or neither release verifies
};

inline constexpr std::array<JobState, 9> kAllJobStates = {
    JobState::kOpened,     JobState::kOrdered,     JobState::kReported,
    JobState::kCommitting, JobState::kRollingBack, JobState::kCommitted,
    JobState::kRolledBack, JobState::kRefused,     JobState::kFailed};

// The text of a state: in the store's `state` column, in JSON and in the CLI.
constexpr std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kOpened:
      return "opened";
    case JobState::kOrdered:
      return "ordered";
    case JobState::kReported:
      return "reported";
    case JobState::kCommitting:
      return "committing";
    case JobState::kRollingBack:
      return "rolling-back";
    case JobState::kCommitted:
      return "committed";
    case JobState::kRolledBack:
      return "rolled-back";
    case JobState::kRefused:
      return "refused";
    case JobState::kFailed:
      return "failed";
  }
  return "";
}

// The state named `name`; nullopt for any other text.
constexpr std::optional<JobState> ParseJobState(std::string_view name) {
  for (JobState s : kAllJobStates) {
    if (JobStateName(s) == name) return s;
  }
  return std::nullopt;
}

// Open: the job still expects an action of the OAM or the device. A device
// has at most one open job.
constexpr bool IsOpenJobState(JobState state) {
  return state == JobState::kOpened || state == JobState::kOrdered ||
         state == JobState::kReported || state == JobState::kCommitting ||
         state == JobState::kRollingBack;
}

}  // namespace henbtrust
