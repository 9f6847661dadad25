// The OAM's own steps: 2-5 (an affirming appraisal, then the signed order),
// 9 (the PVE verifies the reported quote, the OAM compares its TIM with the
// expected TIM) and deadlines, for every job whose next action is due.
#include "oam/oam_impl.h"

namespace henbtrust {

namespace {

constexpr int kDriveBatch = 200;

}  // namespace

Result<int> OamService::Drive() {
  Impl& m = *impl_;
  const int64_t now = m.config.now();
  const int64_t lease_until = now + m.config.lease;
  HENB_ASSIGN_OR_RETURN(auto due,
                        m.store.ClaimDueJobs(m.config.instance_id, now, lease_until, kDriveBatch));
  int moved = 0;
  for (auto& job : due) {
    // What the lease no longer covers (a slow PVE) is left for the next
    // claim, by this instance or another, rather than acted on twice.
    if (m.config.now() >= lease_until - 1) break;
    auto r = m.Act(std::move(job));
    if (!r.ok()) return r.error();
    if (*r) ++moved;
  }
  HENB_TRY(m.DriveCampaigns());
  return moved;
}

Result<bool> OamService::Impl::Act(UpdateJob job) {
  if (job.state == JobState::kOpened) return CheckPreAppraisal(job);
  if (job.state == JobState::kReported) return CheckReport(job);
  return MissedDeadline(job);
}

// Steps 2-4 ask for an affirming appraisal made since the job opened (the
// device pushes one when its poll says "attest"); step 5 then signs the order.
Result<bool> OamService::Impl::CheckPreAppraisal(UpdateJob& job, bool quiet) {
  const int64_t now = config.now();
  if (job.kind != JobKind::kUpdate) {
    // Remediation is for a device that does not verify: no appraisal is
    // asked first, and only step 9 can end it committed.
    HENB_TRY(Instruct(job, JobState::kOrdered, true));
    job.attempts = 0;
    job.detail = std::string(JobKindName(job.kind)) +
                 " ordered without an appraisal first; expected TIM " + HexEncode(job.expected_tim);
    return Advance(job, JobEvent::kRemediationOrdered, "oam");
  }
  auto latest = pve.Latest(job.device_id);
  if (latest.ok() && *latest && (*latest)->appraised_at >= job.created_at) {
    const LatestAppraisal& a = **latest;
    if (a.status == "affirming") {
      HENB_TRY(Instruct(job, JobState::kOrdered, true));
      job.attempts = 0;
      job.detail = "appraisal " + std::to_string(a.appraisal_id) +
                   " affirming; order signed, expected TIM " + HexEncode(job.expected_tim);
      return Advance(job, JobEvent::kPreAppraisalAffirming, "oam");
    }
    const std::string why = DescribeTrustVector(a.vector);
    job.detail = "the PVE's appraisal before the update is " + a.status +
                 (why.empty() ? "" : " (" + why + ")") +
                 ": no update for a device that does not verify (quarantine, docs/design.md 5);"
                 " to bring it back: henbtrust server remediate --dir DIR --device " +
                 job.device_id + " --reinstall " + job.version + " (or --recover " + job.version +
                 ")";
    return Advance(job, JobEvent::kPreAppraisalNotAffirming, "oam");
  }
  if (!latest.ok()) {
    job.detail = latest.error().code() == ErrorCode::kNetStatus
                     ? latest.error().message() + "; asking again"
                     : "PVE unreachable: " + latest.error().message();
  }
  if (quiet) return false;
  if (now >= job.deadline) return MissedDeadline(job);
  // Not yet appraised: look again soon, without an audit entry per look (a
  // fleet waiting for its devices would fill the log with them); the job's
  // detail says why it waits.
  job.next_action_at = now + config.pve_retry;
  HENB_TRY(Touch(job, std::nullopt));
  return false;
}

// Step 9: the PVE verifies the reported quote; the OAM compares its TIM
// with the expected TIM of step 5. A fall back or a rollback must show,
// verified, the release the device ran before.
Result<bool> OamService::Impl::CheckReport(UpdateJob& job) {
  const int64_t now = config.now();
  // The report was decoded when the device sent it; a stored one that no
  // longer decodes is as good as evidence that does not verify.
  auto report = DecodeAgentReport(job.report);
  const bool installed = report.ok() && report->kind == ReportKind::kInstalled;
  Result<UpdateVerdict> verdict =
      report.ok() ? pve.AppraiseUpdate(job.device_id, report->evidence,
                                       installed ? job.release_id : job.from_release_id,
                                       installed ? job.version : job.from_version, job.order_nonce)
                  : Result<UpdateVerdict>(UpdateVerdict{
                        "contraindicated", "", "stored report: " + report.error().message()});
  if (!verdict.ok()) {
    // Recorded when the job starts waiting for the PVE, not at every retry:
    // an outage then costs one audit entry per waiting job, however long.
    constexpr std::string_view kWaits = "step 9 waits for the PVE: ";
    const bool already_waiting = job.detail.rfind(kWaits, 0) == 0;
    job.detail = std::string(kWaits) + verdict.error().message();
    job.next_action_at = now + config.pve_retry;
    std::optional<AuditEntry> audit;
    if (!already_waiting) {
      audit = AuditEntry{0,          now, "oam", "job:" + std::to_string(job.id), "PVE unavailable",
                         job.detail, {},  {}};
    }
    HENB_TRY(Touch(job, audit));
    return false;
  }
  const std::string& status = verdict->status;
  const std::string& why = verdict->detail;
  const std::string kind(report.ok() ? ReportKindName(report->kind) : "unreadable report");

  if (installed) {
    if (status == "affirming" && verdict->tim == HexEncode(job.expected_tim)) {
      HENB_TRY(pve.SetConfiguration(job.device_id, job.release_id, job.version, "new"));
      HENB_TRY(Instruct(job, JobState::kCommitting, false));
      job.attempts = 0;
      job.detail = "step 9 passed: PVE affirms the quote and its TIM equals the expected TIM";
      return Advance(job, JobEvent::kStep9Passed, "oam");
    }
    HENB_TRY(Instruct(job, JobState::kRollingBack, true));
    job.attempts = 0;
    job.detail = status == "affirming"
                     ? "step 9 failed: TIM " + verdict->tim + " is not the expected TIM"
                     : "step 9 failed: the device reported an install, the PVE says " + status +
                           (why.empty() ? "" : " (" + why + ")");
    return Advance(job, JobEvent::kStep9Failed, "oam");
  }
  if (status == "affirming") {
    // Step 9 may have passed before the device fell back (its trial did not
    // survive until the commit): the PVE's reference goes back as well.
    HENB_TRY(
        pve.SetConfiguration(job.device_id, job.from_release_id, job.from_version, "previous"));
    const std::string said = report.ok() ? report->detail : "";
    job.detail = "device runs " + job.from_version + ", verified by the PVE (" + kind +
                 (said.empty() ? "" : ": " + said) + ")";
    return Advance(job, JobEvent::kPreviousVerified, "oam");
  }
  job.detail = "after " + kind + " the device runs neither release as verified (PVE: " + status +
               (why.empty() ? "" : ", " + why) + "): it needs recovery";
  return Advance(job, JobEvent::kPreviousNotVerified, "oam");
}

Result<bool> OamService::Impl::MissedDeadline(UpdateJob& job) {
  const JobState from = job.state;
  const int64_t now = config.now();
  if (now < job.deadline) {
    job.next_action_at = job.deadline;
    return false;
  }
  ++job.attempts;
  if (job.attempts >= config.max_attempts) {
    job.detail = "the device did not act in " + std::to_string(job.attempts) +
                 " periods; state was " + std::string(JobStateName(from));
    return Advance(job, JobEvent::kAttemptsUsedUp, "oam");
  }
  // Retry with a longer period each time; the instruction is re-signed with
  // a new expiry but keeps its nonce, so a late report still matches.
  if (from != JobState::kOpened) HENB_TRY(Instruct(job, from, false));
  job.deadline = now + (config.order_ttl << job.attempts);
  job.next_action_at = job.deadline;
  job.detail = "deadline passed in state " + std::string(JobStateName(from)) + "; retry " +
               std::to_string(job.attempts);
  return Advance(job, JobEvent::kDeadlineMissed, "oam");
}

}  // namespace henbtrust
