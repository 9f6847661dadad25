#include "henbtrust/oam/job_machine.h"

#include <array>
#include <string>

namespace henbtrust {

namespace {

using S = JobState;
using E = JobEvent;

// The open states and what moves them. The retry rows keep the state: the
// driver re-signs the same instruction with a longer period.
constexpr std::array<JobTransition, 25> kTable = {{
    {S::kOpened, E::kPreAppraisalAffirming, S::kOrdered, "ordered"},
    {S::kOpened, E::kPreAppraisalNotAffirming, S::kRefused, "refused"},
    {S::kOpened, E::kRemediationOrdered, S::kOrdered, "ordered for remediation"},
    {S::kOpened, E::kDeadlineMissed, S::kOpened, "deadline missed"},
    {S::kOpened, E::kAttemptsUsedUp, S::kFailed, "failed"},
    {S::kOpened, E::kSupersededByRecovery, S::kFailed, "superseded by recovery"},

    {S::kOrdered, E::kDeviceInstalled, S::kReported, "reported installed"},
    {S::kOrdered, E::kDeviceFellBack, S::kReported, "reported fell-back"},
    {S::kOrdered, E::kDeviceRejected, S::kOrdered, "rejected"},
    {S::kOrdered, E::kDeadlineMissed, S::kOrdered, "deadline missed"},
    {S::kOrdered, E::kAttemptsUsedUp, S::kFailed, "failed"},
    {S::kOrdered, E::kSupersededByRecovery, S::kFailed, "superseded by recovery"},

    {S::kReported, E::kStep9Passed, S::kCommitting, "verified"},
    {S::kReported, E::kStep9Failed, S::kRollingBack, "step 9 failed"},
    {S::kReported, E::kPreviousVerified, S::kRolledBack, "rolled back"},
    {S::kReported, E::kPreviousNotVerified, S::kFailed, "failed"},

    {S::kCommitting, E::kDeviceCommitted, S::kCommitted, "committed"},
    {S::kCommitting, E::kDeviceRolledBack, S::kReported, "reported rolled-back"},
    {S::kCommitting, E::kDeadlineMissed, S::kCommitting, "deadline missed"},
    {S::kCommitting, E::kAttemptsUsedUp, S::kFailed, "failed"},
    {S::kCommitting, E::kSupersededByRecovery, S::kFailed, "superseded by recovery"},

    {S::kRollingBack, E::kDeviceRolledBack, S::kReported, "reported rolled-back"},
    {S::kRollingBack, E::kDeadlineMissed, S::kRollingBack, "deadline missed"},
    {S::kRollingBack, E::kAttemptsUsedUp, S::kFailed, "failed"},
    {S::kRollingBack, E::kSupersededByRecovery, S::kFailed, "superseded by recovery"},
    // Closed states (committed, rolled-back, refused, failed) have no row.
}};

constexpr std::array<std::string_view, kJobEventCount> kEventNames = {
    "pre-update appraisal affirming",
    "pre-update appraisal not affirming",
    "remediation ordered",
    "device reports installed",
    "device reports fell-back",
    "device reports rejected",
    "device reports rolled-back",
    "device reports committed",
    "step 9 passed",
    "step 9 failed",
    "previous release verified",
    "previous release not verified",
    "deadline missed",
    "attempts used up",
    "superseded by recovery",
};

}  // namespace

std::span<const JobTransition> JobTransitions() { return kTable; }

std::string_view JobEventName(JobEvent event) {
  const auto i = static_cast<size_t>(event);
  return i < kEventNames.size() ? kEventNames[i] : "unknown event";
}

Result<JobTransition> FindJobTransition(JobState from, JobEvent event) {
  for (const JobTransition& t : kTable) {
    if (t.from == from && t.event == event) return t;
  }
  return Error(ErrorCode::kPolicyState, "a job that is " + std::string(JobStateName(from)) +
                                            " cannot take '" + std::string(JobEventName(event)) +
                                            "'");
}

Result<JobTransition> ApplyJobEvent(UpdateJob& job, JobEvent event) {
  HENB_ASSIGN_OR_RETURN(JobTransition t, FindJobTransition(job.state, event));
  job.state = t.to;
  job.open = IsOpenJobState(t.to);
  return t;
}

AgentAction ActionFor(JobState state, JobKind kind) {
  switch (state) {
    case JobState::kOpened:
      return AgentAction::kAttest;
    case JobState::kOrdered:
      return kind == JobKind::kRecover ? AgentAction::kRecover : AgentAction::kInstall;
    case JobState::kCommitting:
      return AgentAction::kCommit;
    case JobState::kRollingBack:
      return AgentAction::kRollback;
    case JobState::kReported:
      return AgentAction::kWait;
    case JobState::kCommitted:
    case JobState::kRolledBack:
    case JobState::kRefused:
    case JobState::kFailed:
      return AgentAction::kNone;
  }
  return AgentAction::kNone;
}

JobEvent EventForReport(ReportKind kind) {
  switch (kind) {
    case ReportKind::kInstalled:
      return JobEvent::kDeviceInstalled;
    case ReportKind::kFellBack:
      return JobEvent::kDeviceFellBack;
    case ReportKind::kRejected:
      return JobEvent::kDeviceRejected;
    case ReportKind::kRolledBack:
      return JobEvent::kDeviceRolledBack;
    case ReportKind::kCommitted:
      return JobEvent::kDeviceCommitted;
  }
  return JobEvent::kDeviceRejected;
}

}  // namespace henbtrust
