// The operator's endpoints: jobs, the inventory and the audit log.
#include "henbtrust/core/decimal.h"
#include "henbtrust/net/api.h"
#include "oam/oam_impl.h"

namespace henbtrust {

namespace {

// A job id: a decimal within what JSON carries exactly.
std::optional<int64_t> ParseId(std::string_view text) {
  const auto value = ParseDecimal(text);
  if (!value || *value > static_cast<uint64_t>(kMaxJobId)) return std::nullopt;
  return static_cast<int64_t>(*value);
}

}  // namespace

Result<HttpResponse> OamService::Impl::ListJobs(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(PageQuery q, ParsePageQuery(req.target));
  HENB_ASSIGN_OR_RETURN(int64_t after, NumericCursor(q.after, kMaxJobId));
  HENB_ASSIGN_OR_RETURN(auto jobs, store.ListJobs(false, 0, q.limit, after));
  Page<JobView> page;
  page.items.reserve(jobs.size());
  for (const auto& j : jobs) page.items.push_back(ViewOf(j));
  page.next = NextCursor(jobs, q.limit, [](const UpdateJob& j) { return std::to_string(j.id); });
  return api::JsonText(200, EncodeJobList(page));
}

Result<HttpResponse> OamService::Impl::CreateJob(const HttpRequest& req) {
  HENB_TRY(api::RequireJsonContent(req));
  HENB_ASSIGN_OR_RETURN(OpenJobRequest r, DecodeOpenJobRequest(req.body));
  HENB_ASSIGN_OR_RETURN(UpdateJob job, OpenJob(r.device_id, r.release_id, r.version,
                                               "operator:" + req.peer.common_name, r.kind));
  return api::JsonText(201, EncodeJobView(ViewOf(job)));
}

Result<HttpResponse> OamService::Impl::GetJob(const std::string& id_text) {
  const auto id = ParseId(id_text);
  if (!id) return api::BadRequest("malformed job id");
  HENB_ASSIGN_OR_RETURN(auto job, store.GetJob(*id));
  if (!job) return Error(ErrorCode::kNotFound, "no job " + id_text);
  return api::JsonText(200, EncodeJobView(ViewOf(*job)));
}

Result<HttpResponse> OamService::Impl::Inventory(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(PageQuery q, ParsePageQuery(req.target));
  if (!q.after.empty() && !api::IsValidDeviceId(q.after)) {
    return api::BadRequest("'after' must be a device id from the previous page");
  }
  HENB_ASSIGN_OR_RETURN(auto devices, store.ListDevices(q.after, q.limit));
  Page<InventoryEntry> page;
  for (const auto& d : devices) {
    HENB_ASSIGN_OR_RETURN(auto job, store.OpenJobFor(d.device_id));
    HENB_ASSIGN_OR_RETURN(WatchdogRecord watchdog, WatchdogOf(d.device_id));
    page.items.push_back(InventoryEntry{d.device_id, d.hardware_model, d.release_id,
                                        d.release_version, d.state,
                                        job ? std::optional<JobView>(ViewOf(*job)) : std::nullopt,
                                        watchdog.mode, watchdog.deadline, watchdog.last_ticket});
  }
  page.next = NextCursor(devices, q.limit, [](const DeviceRecord& d) { return d.device_id; });
  return api::JsonText(200, EncodeInventory(page));
}

Result<HttpResponse> OamService::Impl::ListAudit(const HttpRequest& req) {
  HENB_ASSIGN_OR_RETURN(PageQuery q, ParsePageQuery(req.target));
  HENB_ASSIGN_OR_RETURN(int64_t after, NumericCursor(q.after, kMaxJobId));
  HENB_ASSIGN_OR_RETURN(auto entries, store.ListAudit(after, q.limit));
  Page<AuditView> page;
  page.items.reserve(entries.size());
  for (const auto& e : entries) {
    page.items.push_back(AuditView{e.seq, e.at, e.actor, e.subject, e.event, e.detail, e.hash});
  }
  page.next =
      NextCursor(entries, q.limit, [](const AuditEntry& e) { return std::to_string(e.seq); });
  return api::JsonText(200, EncodeAuditList(page));
}

}  // namespace henbtrust
