// The operator's endpoints: jobs, the inventory and the audit log.
#include "henbtrust/core/decimal.h"
#include "henbtrust/net/api.h"
#include "oam/oam_impl.h"

namespace henbtrust {

namespace {

// A job id or sequence number: a decimal within what JSON carries exactly.
std::optional<int64_t> ParseId(std::string_view text) {
  const auto value = ParseDecimal(text);
  if (!value || *value > static_cast<uint64_t>(kMaxJobId)) return std::nullopt;
  return static_cast<int64_t>(*value);
}

}  // namespace

Result<HttpResponse> OamService::Impl::ListJobs() {
  HENB_ASSIGN_OR_RETURN(auto jobs, store.ListJobs(false, 0, 100000));
  std::vector<JobView> views;
  views.reserve(jobs.size());
  for (const auto& j : jobs) views.push_back(ViewOf(j));
  return api::JsonText(200, EncodeJobList(views));
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

Result<HttpResponse> OamService::Impl::Inventory() {
  std::vector<InventoryEntry> out;
  std::string after;
  for (;;) {
    HENB_ASSIGN_OR_RETURN(auto page, store.ListDevices(after, 1000));
    if (page.empty()) break;
    for (const auto& d : page) {
      HENB_ASSIGN_OR_RETURN(auto job, store.OpenJobFor(d.device_id));
      out.push_back(InventoryEntry{d.device_id, d.hardware_model, d.release_id, d.release_version,
                                   d.state,
                                   job ? std::optional<JobView>(ViewOf(*job)) : std::nullopt});
    }
    after = page.back().device_id;
  }
  return api::JsonText(200, EncodeInventory(out));
}

Result<HttpResponse> OamService::Impl::ListAudit(const HttpRequest& req) {
  int64_t after = 0;
  const size_t q = req.target.find("after=");
  if (q != std::string::npos) {
    std::string_view value = std::string_view(req.target).substr(q + 6);
    value = value.substr(0, value.find('&'));
    const auto parsed = ParseId(value);
    if (!parsed) return api::BadRequest("malformed 'after'");
    after = *parsed;
  }
  HENB_ASSIGN_OR_RETURN(auto entries, store.ListAudit(after, 1000));
  std::vector<AuditView> views;
  views.reserve(entries.size());
  for (const auto& e : entries) {
    views.push_back(AuditView{e.seq, e.at, e.actor, e.subject, e.event, e.detail, e.hash});
  }
  return api::JsonText(200, EncodeAuditList(views));
}

}  // namespace henbtrust
