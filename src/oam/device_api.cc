// The device agent's endpoints: what to do next (poll) and what came of it
// (reports).
#include "henbtrust/net/api.h"
#include "oam/oam_impl.h"

namespace henbtrust {

bool OamService::Impl::ClaimNow(int64_t job_id) {
  const int64_t now = config.now();
  auto claimed = store.ClaimJob(job_id, config.instance_id, now, now + config.lease);
  return claimed.ok() && *claimed;
}

Result<HttpResponse> OamService::Impl::Poll(const HttpRequest& req, bool recovery) {
  const std::string& device = req.peer.common_name;
  HENB_ASSIGN_OR_RETURN(auto job, store.OpenJobFor(device));
  if (recovery && job && job->kind != JobKind::kRecover) job.reset();
  if (job && job->state == JobState::kOpened && ClaimNow(job->id)) {
    // The device may have pushed its evidence since the last poll: order now
    // (unless another OAM drives the job at this moment).
    UpdateJob copy = *job;
    HENB_ASSIGN_OR_RETURN(bool moved, CheckPreAppraisal(copy, true));
    if (moved) {
      HENB_ASSIGN_OR_RETURN(job, store.OpenJobFor(device));
    }
  }
  if (!job) return api::JsonText(200, EncodePollAnswer(PollAnswer{}));
  PollAnswer answer{ActionFor(job->state, job->kind), job->id, {}};
  if (ActionCarriesOrder(answer.action)) {
    answer.order = job->order;
  }
  return api::JsonText(200, EncodePollAnswer(answer));
}

// A device's report. Idempotent: the same report again, or one for a job
// that has moved on, changes nothing and says where the job is.
Result<HttpResponse> OamService::Impl::Report(const HttpRequest& req, bool recovery) {
  if (req.body.size() > kMaxReportBytes) return Error(ErrorCode::kNetTooLarge, "report too large");
  HENB_TRY(api::RequireJsonContent(req));
  HENB_ASSIGN_OR_RETURN(AgentReport report, DecodeAgentReport(req.body));
  const std::string& device = req.peer.common_name;
  HENB_ASSIGN_OR_RETURN(auto stored, store.GetJob(report.job));
  if (!stored || stored->device_id != device || (recovery && stored->kind != JobKind::kRecover)) {
    return Error(ErrorCode::kNotFound, "device " + device + " has no " +
                                           (recovery ? "recover " : "") + "job " +
                                           std::to_string(report.job));
  }
  UpdateJob job = *stored;
  auto answer = [&](const std::string& note) {
    return api::JsonText(200, EncodeReportAnswer(ReportAnswer{job.id, job.state, note}));
  };
  const JobEvent event = EventForReport(report.kind);
  if (!FindJobTransition(job.state, event).ok()) {
    // A repeat of a report already taken, or one that is late: no change.
    if (!job.open || job.state == JobState::kReported) return answer("report already recorded");
    return Error(ErrorCode::kPolicyState, "job " + std::to_string(job.id) + " is " +
                                              std::string(JobStateName(job.state)) + "; a '" +
                                              std::string(ReportKindName(report.kind)) +
                                              "' report does not apply");
  }
  const std::string actor = "device:" + device;
  const std::string& detail = report.detail;
  if (report.kind == ReportKind::kRejected) {
    ++job.attempts;
    job.detail = "device refused the update before installing: " + detail;
    JobEvent outcome = event;
    if (job.attempts >= config.max_attempts) {
      job.detail += " (" + std::to_string(job.attempts) + " times; nothing installed)";
      outcome = JobEvent::kAttemptsUsedUp;
    }
    HENB_ASSIGN_OR_RETURN(bool moved, Advance(job, outcome, actor));
    return answer(moved ? "recorded" : "job moved meanwhile");
  }
  if (report.kind == ReportKind::kCommitted) {
    job.detail = "committed: device marked the slot good and raised its anti-rollback floor";
    HENB_ASSIGN_OR_RETURN(bool moved, Advance(job, event, actor));
    return answer(moved ? "recorded" : "job moved meanwhile");
  }
  job.report = EncodeAgentReport(report);
  job.next_action_at = config.now();
  job.detail = "device reports " + std::string(ReportKindName(report.kind)) +
               (detail.empty() ? "" : ": " + detail);
  HENB_ASSIGN_OR_RETURN(bool moved, Advance(job, event, actor));
  if (!moved) return answer("job moved meanwhile");
  // Step 9 right away, unless another OAM drives the job; should this fail
  // or the process stop, Drive() does it.
  if (!ClaimNow(job.id)) return answer("recorded");
  HENB_ASSIGN_OR_RETURN(auto latest, store.GetJob(job.id));
  if (latest && latest->state == JobState::kReported) {
    UpdateJob now = *latest;
    HENB_TRY(CheckReport(now));
  }
  return answer("recorded");
}

}  // namespace henbtrust
