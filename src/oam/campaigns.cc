// Campaigns (docs/oam.md, "Campaigns"): a release to a selection of
// devices, in batches that start once the batch before has settled, paced,
// pausing themselves past a failure threshold. The jobs are ordinary jobs;
// a campaign only decides when to open them and counts how they end.
#include <algorithm>
#include <limits>
#include <unordered_set>

#include "henbtrust/core/decimal.h"
#include "henbtrust/net/api.h"
#include "oam/oam_impl.h"

namespace henbtrust {

namespace {

constexpr int kCampaignPage = 100;
// At most this many jobs open per campaign per look, so that a pause or an
// abort takes effect within one driver tick however large a batch is.
constexpr int kOpensPerLook = 500;
constexpr int kDevicePage = 1000;

std::string Subject(int64_t id) { return "campaign:" + std::to_string(id); }

AuditEntry CampaignAudit(const Campaign& c, int64_t now, const std::string& actor,
                         const std::string& event) {
  return AuditEntry{0, now, actor, Subject(c.id), event, c.detail, {}, {}};
}

bool Selected(const CampaignSelection& s, const std::unordered_set<std::string>& listed,
              const DeviceRecord& d) {
  if (d.state != kDeviceEnrolled) return false;
  if (!s.hardware_model.empty() && d.hardware_model != s.hardware_model) return false;
  if (!s.running_version.empty() && d.release_version != s.running_version) return false;
  if (!s.running_release_id.empty() && d.release_id != s.running_release_id) return false;
  return listed.empty() || listed.contains(d.device_id);
}

// How a member stands: its job's outcome, or pending.
enum class Outcome { kNotOpened, kOpen, kCommitted, kRolledBack, kFailed, kRefused };

Outcome OutcomeOf(const CampaignMember& m, const std::optional<UpdateJob>& job) {
  if (m.job_id == 0) return m.note.empty() ? Outcome::kNotOpened : Outcome::kRefused;
  if (!job || job->open) return Outcome::kOpen;
  switch (job->state) {
    case JobState::kCommitted:
      return Outcome::kCommitted;
    case JobState::kRolledBack:
      return Outcome::kRolledBack;
    case JobState::kRefused:
      return Outcome::kRefused;
    default:
      return Outcome::kFailed;
  }
}

}  // namespace

Result<CampaignView> OamService::Impl::CreateCampaign(const CreateCampaignRequest& r,
                                                      const std::string& actor) {
  if (!IsValidRelease(r.release_id, r.version)) return api::BadRequest("malformed release");
  if (r.max_failure_percent < 0 || r.max_failure_percent > 100) {
    return Error(ErrorCode::kInvalidArgument, "the failure threshold is a percentage, 0 to 100");
  }
  if (r.batch_size < 0 || r.rate < 0) {
    return Error(ErrorCode::kInvalidArgument, "batch size and rate are 0 or more");
  }
  bool revoked = false;
  HENB_TRY(LoadManifest(r.release_id, r.version, &revoked));
  if (revoked) {
    return Error(ErrorCode::kPolicy,
                 "release " + r.release_id + " " + r.version + " is revoked: no campaign to it");
  }
  // The members: every enrolled device the selection takes, in id order; for
  // an update, not those that already run the target (nothing to do, and
  // not a failure either).
  const std::unordered_set<std::string> listed(r.selection.devices.begin(),
                                               r.selection.devices.end());
  std::unordered_set<std::string> labelled;
  if (!r.selection.group.empty()) {
    std::string from;
    for (;;) {
      HENB_ASSIGN_OR_RETURN(auto page, store.GroupMembers(r.selection.group, from, kDevicePage));
      if (page.empty()) break;
      labelled.insert(page.begin(), page.end());
      from = page.back();
    }
  }
  std::unordered_set<std::string> found;
  std::vector<CampaignMember> members;
  std::string after;
  for (;;) {
    HENB_ASSIGN_OR_RETURN(auto page, store.ListDevices(after, kDevicePage));
    if (page.empty()) break;
    for (const auto& d : page) {
      if (!Selected(r.selection, listed, d)) continue;
      if (!r.selection.group.empty() && !labelled.contains(d.device_id)) continue;
      found.insert(d.device_id);
      if (r.kind == JobKind::kUpdate && d.release_id == r.release_id &&
          d.release_version == r.version) {
        continue;
      }
      const int index = static_cast<int>(members.size());
      members.push_back({d.device_id, r.batch_size > 0 ? index / r.batch_size : 0, 0});
    }
    after = page.back().device_id;
  }
  for (const auto& wanted : r.selection.devices) {
    if (!found.contains(wanted)) {
      if (!r.selection.group.empty()) {
        return Error(ErrorCode::kInvalidArgument,
                     "device " + wanted + " is not an enrolled member of group " +
                         r.selection.group + " (or not of the selection's model or release)");
      }
      return Error(ErrorCode::kPolicyUnknownDevice, "no enrolled device " + wanted);
    }
  }
  if (members.empty() && !found.empty()) {
    return Error(ErrorCode::kInvalidArgument, "every device the selection '" +
                                                  FormatCampaignSelection(r.selection) +
                                                  "' takes already runs " + r.version);
  }
  if (members.empty()) {
    return Error(
        ErrorCode::kInvalidArgument,
        "the selection '" + FormatCampaignSelection(r.selection) + "' takes no enrolled device");
  }
  const int64_t now = config.now();
  Campaign c;
  c.release_id = r.release_id;
  c.version = r.version;
  c.kind = r.kind;
  c.selection = FormatCampaignSelection(r.selection);
  c.batch_size = r.batch_size;
  c.max_failure_percent = r.max_failure_percent;
  c.rate = r.rate;
  c.state = CampaignState::kRunning;
  c.detail = std::string(JobKindName(r.kind)) + " to " + r.release_id + " " + r.version + " of " +
             std::to_string(members.size()) + " devices (" + c.selection + ")";
  c.created_at = c.updated_at = now;
  AuditEntry created = CampaignAudit(c, now, actor, "campaign created");
  created.subject.clear();  // the store names it with the new id
  HENB_ASSIGN_OR_RETURN(c.id, store.CreateCampaign(c, members, created));
  // The first batch opens now.
  HENB_TRY(DriveCampaign(c));
  HENB_ASSIGN_OR_RETURN(auto stored, store.GetCampaign(c.id));
  if (!stored) return Error(ErrorCode::kInternal, "campaign " + std::to_string(c.id) + " vanished");
  return ViewCampaign(*stored);
}

Result<OamService::Impl::CampaignTally> OamService::Impl::TallyCampaign(int64_t campaign_id) {
  HENB_ASSIGN_OR_RETURN(auto members, store.CampaignMembers(campaign_id));
  CampaignTally t;
  for (const auto& m : members) {
    std::optional<UpdateJob> job;
    if (m.job_id != 0) {
      HENB_ASSIGN_OR_RETURN(job, store.GetJob(m.job_id));
    }
    switch (OutcomeOf(m, job)) {
      case Outcome::kNotOpened:
        ++t.counts.pending;
        t.next_batch = std::min(t.next_batch, m.batch);
        break;
      case Outcome::kOpen:
        ++t.counts.pending;
        t.unsettled_batch = std::min(t.unsettled_batch, m.batch);
        break;
      case Outcome::kCommitted:
        ++t.counts.committed;
        break;
      case Outcome::kRolledBack:
        ++t.counts.rolled_back;
        break;
      case Outcome::kFailed:
        ++t.counts.failed;
        break;
      case Outcome::kRefused:
        ++t.counts.refused;
        break;
    }
  }
  t.members = std::move(members);
  return t;
}

Result<CampaignView> OamService::Impl::ViewCampaign(const Campaign& c) {
  HENB_ASSIGN_OR_RETURN(CampaignTally t, TallyCampaign(c.id));
  return CampaignView{c, t.counts, static_cast<int>(t.members.size())};
}

Status OamService::Impl::DriveCampaigns() {
  // One campaign's failure does not hold up the others; the first is reported.
  Status first = OkStatus();
  int64_t after = 0;
  for (;;) {
    const int64_t now = config.now();
    HENB_ASSIGN_OR_RETURN(
        auto running,
        store.ClaimCampaigns(config.instance_id, now, now + config.lease, after, kCampaignPage));
    if (running.empty()) break;
    after = running.back().id;
    for (auto& c : running) {
      auto st = DriveCampaign(std::move(c));
      if (!st.ok() && first.ok()) first = st;
    }
  }
  return first;
}

Status OamService::Impl::DriveCampaign(Campaign c) {
  if (c.state != CampaignState::kRunning) return OkStatus();
  const int64_t now = config.now();
  HENB_ASSIGN_OR_RETURN(CampaignTally t, TallyCampaign(c.id));
  const int failures = t.counts.rolled_back + t.counts.failed + t.counts.refused;
  const int ended = t.counts.committed + failures;
  const int next_batch = t.next_batch;
  const int unsettled_batch = t.unsettled_batch;
  const std::vector<CampaignMember>& members = t.members;
  const Campaign before = c;
  if (next_batch == std::numeric_limits<int>::max() &&
      unsettled_batch == std::numeric_limits<int>::max()) {
    c.state = CampaignState::kDone;
    c.detail = "done: " + std::to_string(ended - failures) + " committed, " +
               std::to_string(failures) + " did not";
    c.updated_at = now;
    HENB_ASSIGN_OR_RETURN(
        bool moved, store.UpdateCampaign(c, before.state, CampaignAudit(c, now, "oam", "done")));
    (void)moved;  // another OAM got there first: its change stands
    return OkStatus();
  }
  // Counted from the operator's last resume: what ended before was looked at.
  const int counted = ended - c.ended_at_resume;
  const int counted_failures = failures - c.failures_at_resume;
  if (counted > 0 && counted_failures * 100 > c.max_failure_percent * counted) {
    c.state = CampaignState::kPaused;
    c.detail = std::to_string(counted_failures) + " of " + std::to_string(counted) +
               " ended jobs failed, above the threshold of " +
               std::to_string(c.max_failure_percent) +
               "%: paused (resume, or abort, after a look at them)";
    c.updated_at = now;
    HENB_ASSIGN_OR_RETURN(
        bool moved, store.UpdateCampaign(c, before.state, CampaignAudit(c, now, "oam", "paused")));
    (void)moved;
    return OkStatus();
  }
  // A batch starts once every job of the batches before it has ended.
  if (next_batch == std::numeric_limits<int>::max() || unsettled_batch < next_batch) {
    return OkStatus();
  }
  if (c.rate > 0 && now < c.next_open_at) return OkStatus();
  int allowed = c.rate > 0 ? std::min(c.rate, kOpensPerLook) : kOpensPerLook;
  int opened = 0;
  for (const auto& m : members) {
    if (allowed == 0) break;
    if (m.batch != next_batch || m.job_id != 0 || !m.note.empty()) continue;
    // The job and the member's record of it are one transaction: another
    // OAM that got there first makes this one a conflict, never a second job.
    auto job = OpenJob(m.device_id, c.release_id, c.version, Subject(c.id), c.kind, c.id);
    if (job.ok()) {
      --allowed;
      ++opened;
      continue;
    }
    const Error& e = job.error();
    if (e.code() == ErrorCode::kPolicyJobConflict) continue;  // taken, or another job: wait
    if (LayerOf(e.code()) != ErrorLayer::kPolicy && e.code() != ErrorCode::kNetBadRequest) {
      return e;  // the store or the catalogue failed: look again next tick
    }
    // Refused for this device (revoked, other hardware, a downgrade): counted as refused.
    HENB_ASSIGN_OR_RETURN(bool refused,
                          store.RefuseCampaignMember(c.id, m.device_id, e.ToString()));
    (void)refused;
    --allowed;
  }
  if (c.rate > 0 && opened > 0) {
    // Only the pacing changes; on the campaign as it is now, not as it was
    // read, so that an operator's change meanwhile stands.
    HENB_ASSIGN_OR_RETURN(auto fresh, store.GetCampaign(c.id));
    if (fresh && fresh->state == CampaignState::kRunning) {
      fresh->next_open_at = now + 1;
      HENB_ASSIGN_OR_RETURN(bool moved, store.UpdateCampaign(*fresh, fresh->state, std::nullopt));
      (void)moved;
    }
  }
  return OkStatus();
}

Result<CampaignView> OamService::Impl::ChangeCampaign(int64_t id, OamService::CampaignAction action,
                                                      const std::string& actor) {
  HENB_ASSIGN_OR_RETURN(auto stored, store.GetCampaign(id));
  if (!stored) return Error(ErrorCode::kNotFound, "no campaign " + std::to_string(id));
  Campaign c = *stored;
  const CampaignState from = c.state;
  std::string event;
  switch (action) {
    case OamService::CampaignAction::kPause:
      if (from != CampaignState::kRunning) break;
      c.state = CampaignState::kPaused;
      event = "paused";
      break;
    case OamService::CampaignAction::kResume: {
      if (from != CampaignState::kPaused) break;
      // What failed until now was looked at: the threshold counts afresh.
      HENB_ASSIGN_OR_RETURN(CampaignView now_view, ViewCampaign(c));
      const CampaignCounts& n = now_view.counts;
      c.failures_at_resume = n.rolled_back + n.failed + n.refused;
      c.ended_at_resume = n.committed + c.failures_at_resume;
      c.state = CampaignState::kRunning;
      event = "resumed";
      break;
    }
    case OamService::CampaignAction::kAbort:
      if (from != CampaignState::kRunning && from != CampaignState::kPaused) break;
      c.state = CampaignState::kAborted;
      event = "aborted";
      break;
  }
  if (event.empty()) {
    return Error(ErrorCode::kPolicyState,
                 "campaign " + std::to_string(id) + " is " + std::string(CampaignStateName(from)));
  }
  const int64_t now = config.now();
  c.detail = event + " by " + actor +
             (action == OamService::CampaignAction::kAbort ? "; open jobs run to their end" : "");
  c.updated_at = now;
  HENB_ASSIGN_OR_RETURN(bool moved,
                        store.UpdateCampaign(c, from, CampaignAudit(c, now, actor, event)));
  if (!moved) {
    return Error(ErrorCode::kPolicyState,
                 "campaign " + std::to_string(id) + " changed meanwhile; look again");
  }
  if (c.state == CampaignState::kRunning) HENB_TRY(DriveCampaign(c));
  HENB_ASSIGN_OR_RETURN(auto after, store.GetCampaign(id));
  return ViewCampaign(after ? *after : c);
}

// --- the operator's endpoints

Result<HttpResponse> OamService::Impl::CreateCampaignApi(const HttpRequest& req) {
  HENB_TRY(api::RequireJsonContent(req));
  HENB_ASSIGN_OR_RETURN(CreateCampaignRequest r, DecodeCreateCampaignRequest(req.body));
  HENB_ASSIGN_OR_RETURN(CampaignView v, CreateCampaign(r, "operator:" + req.peer.common_name));
  return api::JsonText(201, EncodeCampaignView(v));
}

Result<HttpResponse> OamService::Impl::ListCampaignsApi(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(PageQuery q, ParsePageQuery(req.target));
  HENB_ASSIGN_OR_RETURN(int64_t after, NumericCursor(q.after, kMaxJobId));
  HENB_ASSIGN_OR_RETURN(auto campaigns, store.ListCampaigns(false, after, q.limit));
  Page<CampaignView> page;
  for (const auto& c : campaigns) {
    HENB_ASSIGN_OR_RETURN(CampaignView v, ViewCampaign(c));
    page.items.push_back(std::move(v));
  }
  page.next =
      NextCursor(campaigns, q.limit, [](const Campaign& c) { return std::to_string(c.id); });
  return api::JsonText(200, EncodeCampaignList(page));
}

Result<HttpResponse> OamService::Impl::GetCampaignApi(const std::string& id_text) {
  const auto id = ParseDecimal(id_text);
  if (!id || *id == 0 || *id > static_cast<uint64_t>(kMaxJobId)) {
    return api::BadRequest("malformed campaign id");
  }
  HENB_ASSIGN_OR_RETURN(auto c, store.GetCampaign(static_cast<int64_t>(*id)));
  if (!c) return Error(ErrorCode::kNotFound, "no campaign " + id_text);
  HENB_ASSIGN_OR_RETURN(CampaignView v, ViewCampaign(*c));
  return api::JsonText(200, EncodeCampaignView(v));
}

Result<HttpResponse> OamService::Impl::ChangeCampaignApi(const HttpRequest& req,
                                                         const std::string& id_text,
                                                         OamService::CampaignAction action) {
  const auto id = ParseDecimal(id_text);
  if (!id || *id == 0 || *id > static_cast<uint64_t>(kMaxJobId)) {
    return api::BadRequest("malformed campaign id");
  }
  HENB_ASSIGN_OR_RETURN(CampaignView v, ChangeCampaign(static_cast<int64_t>(*id), action,
                                                       "operator:" + req.peer.common_name));
  return api::JsonText(200, EncodeCampaignView(v));
}

Result<CampaignView> OamService::CreateCampaign(const CreateCampaignRequest& request,
                                                const std::string& actor) {
  return impl_->CreateCampaign(request, actor);
}

Result<CampaignView> OamService::GetCampaign(int64_t id) {
  HENB_ASSIGN_OR_RETURN(auto c, impl_->store.GetCampaign(id));
  if (!c) return Error(ErrorCode::kNotFound, "no campaign " + std::to_string(id));
  return impl_->ViewCampaign(*c);
}

Result<CampaignView> OamService::ChangeCampaign(int64_t id, CampaignAction action,
                                                const std::string& actor) {
  return impl_->ChangeCampaign(id, action, actor);
}

}  // namespace henbtrust
