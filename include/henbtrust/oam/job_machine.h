// The update job as a state machine: every transition a job can make, in one
// table (docs/oam.md, "A job, step by step"). The OAM's handlers and its
// driver turn what happened (a device's report, the PVE's verdict, a missed
// deadline) into a JobEvent and apply it here; nothing else changes a job's
// state.
#pragma once

#include <optional>
#include <span>
#include <string_view>

#include "henbtrust/core/result.h"
#include "henbtrust/net/oam_protocol.h"
#include "henbtrust/store/store.h"

namespace henbtrust {

enum class JobEvent {
  kPreAppraisalAffirming,     // steps 2-4: the PVE affirms the device since the job opened
  kPreAppraisalNotAffirming,  // steps 2-4: it does not
  kRemediationOrdered,        // a reinstall or recover job: ordered without steps 2-4
  kDeviceInstalled,           // report "installed" (step 8)
  kDeviceFellBack,            // report "fell-back" (step 8)
  kDeviceRejected,            // report "rejected": the same order stays out
  kDeviceRolledBack,          // report "rolled-back" (step 8 after a rollback order)
  kDeviceCommitted,           // report "committed"
  kStep9Passed,               // the PVE affirms the new quote and its TIM is the expected TIM
  kStep9Failed,               // it does not
  kPreviousVerified,          // after a fall back or rollback the PVE verifies the old release
  kPreviousNotVerified,       // it verifies neither release
  kDeadlineMissed,            // the device did not act in time: a new, longer period
  kAttemptsUsedUp,            // max_attempts deadlines missed or bundles rejected
  kSupersededByRecovery,      // the device came up in its recovery image: a recover job replaces it
};

struct JobTransition {
  JobState from;
  JobEvent event;
  JobState to;
  std::string_view audit_event;  // the audit log's name for it
};

// The whole table. A (state, event) pair not in it is refused.
std::span<const JobTransition> JobTransitions();
std::string_view JobEventName(JobEvent event);
inline constexpr int kJobEventCount = 15;

// The row for (from, event); kPolicyState naming both if there is none.
Result<JobTransition> FindJobTransition(JobState from, JobEvent event);

// Moves `job` by `event`: its state and its open flag as the table says.
// kPolicyState, `job` unchanged, if the table has no such transition.
Result<JobTransition> ApplyJobEvent(UpdateJob& job, JobEvent event);

// What a polling device is told in `state` of a job of `kind`: the ordered
// state of a recover job is kRecover, of any other kInstall.
AgentAction ActionFor(JobState state, JobKind kind = JobKind::kUpdate);
// The event a device's report of `kind` is.
JobEvent EventForReport(ReportKind kind);

}  // namespace henbtrust
