#include "henbtrust/net/oam_protocol.h"

#include <array>
#include <utility>

#include "henbtrust/core/json_fields.h"

namespace henbtrust {

namespace {

using json_fields::Json;
namespace jf = json_fields;

constexpr std::array<std::pair<AgentAction, std::string_view>, 7> kActionNames = {{
    {AgentAction::kNone, "none"},
    {AgentAction::kWait, "wait"},
    {AgentAction::kAttest, "attest"},
    {AgentAction::kInstall, "install"},
    {AgentAction::kCommit, "commit"},
    {AgentAction::kRollback, "rollback"},
    {AgentAction::kRecover, "recover"},
}};

constexpr std::array<std::pair<ReportKind, std::string_view>, 5> kKindNames = {{
    {ReportKind::kInstalled, "installed"},
    {ReportKind::kFellBack, "fell-back"},
    {ReportKind::kRejected, "rejected"},
    {ReportKind::kRolledBack, "rolled-back"},
    {ReportKind::kCommitted, "committed"},
}};

// Lists are bounded so that a hostile answer cannot make a reader hold more
// than the answer's own size in structs.
constexpr size_t kMaxListItems = 1'000'000;
constexpr size_t kMaxListBytes = size_t{512} << 20;

// A page's "next": its cursor, or null on the last page.
Json NextJson(const std::string& next) { return next.empty() ? Json() : Json(next); }
constexpr size_t kMaxAnswerBytes = size_t{1} << 20;
constexpr size_t kMaxShortText = 256;

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& names, E value) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "";
}

template <typename E, size_t N>
std::optional<E> ValueOf(const std::array<std::pair<E, std::string_view>, N>& names,
                         std::string_view name) {
  for (const auto& [v, n] : names) {
    if (n == name) return v;
  }
  return std::nullopt;
}

Result<JobState> StateField(const Json& object, const char* name) {
  HENB_ASSIGN_OR_RETURN(std::string text, jf::Text(object, name, kMaxShortText));
  auto state = ParseJobState(text);
  if (!state) {
    return Error(ErrorCode::kNetBadRequest,
                 std::string("field '") + name + "' is no job state: '" + text + "'");
  }
  return *state;
}

// "kind": a job kind; "update" when absent or null, unless `required`.
Result<JobKind> KindField(const Json& object, bool required) {
  HENB_ASSIGN_OR_RETURN(std::string text, jf::Text(object, "kind", kMaxShortText, required));
  if (text.empty() && !required) return JobKind::kUpdate;
  auto kind = ParseJobKind(text);
  if (!kind) {
    return Error(ErrorCode::kNetBadRequest,
                 "field 'kind' is no job kind (update, reinstall, recover): '" + text + "'");
  }
  return *kind;
}

Json JobJson(const JobView& j) {
  return {{"id", j.id},
          {"device_id", j.device_id},
          {"release_id", j.release_id},
          {"version", j.version},
          {"from_release_id", j.from_release_id},
          {"from_version", j.from_version},
          {"kind", JobKindName(j.kind)},
          {"state", JobStateName(j.state)},
          {"open", j.open},
          {"expected_tim", HexEncode(j.expected_tim)},
          {"deadline", j.deadline},
          {"attempts", j.attempts},
          {"detail", j.detail},
          {"created_at", j.created_at},
          {"updated_at", j.updated_at}};
}

Result<JobView> JobFromJson(const Json& o) {
  if (!o.is_object()) return Error(ErrorCode::kNetBadRequest, "a job is not a JSON object");
  JobView j;
  HENB_ASSIGN_OR_RETURN(j.id, jf::Int(o, "id", 1, kMaxJobId));
  HENB_ASSIGN_OR_RETURN(j.device_id, jf::Text(o, "device_id", kMaxDeviceIdBytes));
  HENB_ASSIGN_OR_RETURN(j.release_id, jf::Text(o, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(j.version, jf::Text(o, "version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(j.from_release_id, jf::Text(o, "from_release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(j.from_version, jf::Text(o, "from_version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(j.kind, KindField(o, false));
  HENB_ASSIGN_OR_RETURN(j.state, StateField(o, "state"));
  HENB_ASSIGN_OR_RETURN(j.open, jf::Bool(o, "open"));
  HENB_ASSIGN_OR_RETURN(j.expected_tim, jf::Hex(o, "expected_tim", 64));
  HENB_ASSIGN_OR_RETURN(j.deadline, jf::Int(o, "deadline", 0, INT64_MAX));
  HENB_ASSIGN_OR_RETURN(int64_t attempts, jf::Int(o, "attempts", 0, 1'000'000));
  j.attempts = static_cast<int>(attempts);
  HENB_ASSIGN_OR_RETURN(j.detail, jf::Text(o, "detail", kMaxJobDetailBytes));
  HENB_ASSIGN_OR_RETURN(j.created_at, jf::Int(o, "created_at", 0, INT64_MAX));
  HENB_ASSIGN_OR_RETURN(j.updated_at, jf::Int(o, "updated_at", 0, INT64_MAX));
  return j;
}

}  // namespace

std::string_view AgentActionName(AgentAction action) { return NameOf(kActionNames, action); }
std::optional<AgentAction> ParseAgentAction(std::string_view name) {
  return ValueOf(kActionNames, name);
}
std::string_view ReportKindName(ReportKind kind) { return NameOf(kKindNames, kind); }
std::optional<ReportKind> ParseReportKind(std::string_view name) {
  return ValueOf(kKindNames, name);
}

// --- poll -------------------------------------------------------------------

std::string EncodePollAnswer(const PollAnswer& answer) {
  Json out = {{"action", AgentActionName(answer.action)}};
  if (answer.action != AgentAction::kNone) out["job"] = answer.job;
  if (!answer.order.empty()) out["order"] = answer.order;
  return jf::Dump(out);
}

Result<PollAnswer> DecodePollAnswer(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the poll answer", kMaxAnswerBytes));
  HENB_ASSIGN_OR_RETURN(std::string name, jf::Text(o, "action", kMaxShortText));
  auto action = ParseAgentAction(name);
  if (!action) return Error(ErrorCode::kNetBadRequest, "unknown action '" + name + "'");
  PollAnswer out{*action, 0, {}};
  if (out.action == AgentAction::kNone) return out;
  HENB_ASSIGN_OR_RETURN(out.job, jf::Int(o, "job", 1, kMaxJobId));
  const bool ordered = ActionCarriesOrder(out.action);
  HENB_ASSIGN_OR_RETURN(out.order, jf::Text(o, "order", kMaxOrderBytes, ordered));
  if (ordered && out.order.empty()) {
    return Error(ErrorCode::kNetBadRequest, "field 'order' is empty");
  }
  return out;
}

// --- reports ----------------------------------------------------------------

std::string EncodeAgentReport(const AgentReport& report) {
  Json out = {
      {"job", report.job}, {"kind", ReportKindName(report.kind)}, {"detail", report.detail}};
  if (!report.evidence.empty()) {
    Json evidence = Json::parse(report.evidence, nullptr, /*allow_exceptions=*/false);
    out["evidence"] = evidence.is_discarded() ? Json() : std::move(evidence);
  }
  return jf::Dump(out);
}

Result<AgentReport> DecodeAgentReport(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the report", kMaxReportBytes));
  AgentReport out;
  HENB_ASSIGN_OR_RETURN(out.job, jf::Int(o, "job", 1, kMaxJobId));
  HENB_ASSIGN_OR_RETURN(std::string name, jf::Text(o, "kind", kMaxShortText));
  auto kind = ParseReportKind(name);
  if (!kind) return Error(ErrorCode::kNetBadRequest, "unknown report kind '" + name + "'");
  out.kind = *kind;
  HENB_ASSIGN_OR_RETURN(out.detail, jf::Text(o, "detail", kMaxReportDetailBytes, false));
  HENB_ASSIGN_OR_RETURN(const Json* evidence,
                        jf::Object(o, "evidence", ReportCarriesEvidence(out.kind)));
  if (evidence != nullptr) out.evidence = jf::Dump(*evidence);
  return out;
}

std::string EncodeReportAnswer(const ReportAnswer& answer) {
  return jf::Dump(
      {{"job", answer.job}, {"state", JobStateName(answer.state)}, {"note", answer.note}});
}

Result<ReportAnswer> DecodeReportAnswer(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the report's answer", kMaxAnswerBytes));
  ReportAnswer out;
  HENB_ASSIGN_OR_RETURN(out.job, jf::Int(o, "job", 1, kMaxJobId));
  HENB_ASSIGN_OR_RETURN(out.state, StateField(o, "state"));
  HENB_ASSIGN_OR_RETURN(out.note, jf::Text(o, "note", kMaxOamNoteBytes, false));
  return out;
}

// --- operators ----------------------------------------------------------------

std::string EncodeOpenJobRequest(const OpenJobRequest& r) {
  return jf::Dump({{"device_id", r.device_id},
                   {"release_id", r.release_id},
                   {"version", r.version},
                   {"kind", JobKindName(r.kind)}});
}

Result<OpenJobRequest> DecodeOpenJobRequest(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the request", kMaxAnswerBytes));
  OpenJobRequest out;
  HENB_ASSIGN_OR_RETURN(out.device_id, jf::Text(o, "device_id", kMaxDeviceIdBytes));
  HENB_ASSIGN_OR_RETURN(out.release_id, jf::Text(o, "release_id", kMaxReleaseIdBytes));
  HENB_ASSIGN_OR_RETURN(out.version, jf::Text(o, "version", kMaxReleaseVersionBytes));
  HENB_ASSIGN_OR_RETURN(out.kind, KindField(o, false));
  return out;
}

std::string EncodeJobView(const JobView& job) { return jf::Dump(JobJson(job)); }

Result<JobView> DecodeJobView(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the job", kMaxAnswerBytes));
  return JobFromJson(o);
}

std::string EncodeJobList(const Page<JobView>& jobs) {
  Json list = Json::array();
  for (const auto& j : jobs.items) list.push_back(JobJson(j));
  return jf::Dump({{"jobs", std::move(list)}, {"next", NextJson(jobs.next)}});
}

Result<Page<JobView>> DecodeJobList(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the job list", kMaxListBytes));
  HENB_ASSIGN_OR_RETURN(const Json* list, jf::Array(o, "jobs", kMaxListItems));
  Page<JobView> out;
  out.items.reserve(list->size());
  for (const auto& item : *list) {
    HENB_ASSIGN_OR_RETURN(JobView j, JobFromJson(item));
    out.items.push_back(std::move(j));
  }
  HENB_ASSIGN_OR_RETURN(out.next, jf::Text(o, "next", kMaxCursorBytes, false));
  return out;
}

std::string EncodeInventory(const Page<InventoryEntry>& devices) {
  Json list = Json::array();
  for (const auto& d : devices.items) {
    list.push_back({{"device_id", d.device_id},
                    {"hardware_model", d.hardware_model},
                    {"release_id", d.release_id},
                    {"version", d.version},
                    {"state", d.state},
                    {"open_job", d.open_job ? JobJson(*d.open_job) : Json()},
                    {"mode", d.mode},
                    {"watchdog_deadline", d.watchdog_deadline},
                    {"last_ticket", d.last_ticket}});
  }
  return jf::Dump({{"devices", std::move(list)}, {"next", NextJson(devices.next)}});
}

Result<Page<InventoryEntry>> DecodeInventory(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the inventory", kMaxListBytes));
  HENB_ASSIGN_OR_RETURN(const Json* list, jf::Array(o, "devices", kMaxListItems));
  Page<InventoryEntry> out;
  out.items.reserve(list->size());
  for (const auto& item : *list) {
    if (!item.is_object()) return Error(ErrorCode::kNetBadRequest, "a device is not an object");
    InventoryEntry d;
    HENB_ASSIGN_OR_RETURN(d.device_id, jf::Text(item, "device_id", kMaxDeviceIdBytes));
    HENB_ASSIGN_OR_RETURN(d.hardware_model,
                          jf::Text(item, "hardware_model", kMaxHardwareModelBytes));
    HENB_ASSIGN_OR_RETURN(d.release_id, jf::Text(item, "release_id", kMaxReleaseIdBytes));
    HENB_ASSIGN_OR_RETURN(d.version, jf::Text(item, "version", kMaxReleaseVersionBytes));
    HENB_ASSIGN_OR_RETURN(d.state, jf::Text(item, "state", kMaxShortText));
    HENB_ASSIGN_OR_RETURN(const Json* job, jf::Object(item, "open_job", false));
    if (job != nullptr) {
      HENB_ASSIGN_OR_RETURN(JobView j, JobFromJson(*job));
      d.open_job = std::move(j);
    }
    HENB_ASSIGN_OR_RETURN(d.mode, jf::Text(item, "mode", kMaxShortText));
    HENB_ASSIGN_OR_RETURN(d.watchdog_deadline, jf::Int(item, "watchdog_deadline", 0, INT64_MAX));
    HENB_ASSIGN_OR_RETURN(d.last_ticket, jf::Text(item, "last_ticket", kMaxShortText, false));
    out.items.push_back(std::move(d));
  }
  HENB_ASSIGN_OR_RETURN(out.next, jf::Text(o, "next", kMaxCursorBytes, false));
  return out;
}

std::string EncodeAuditList(const Page<AuditView>& entries) {
  Json list = Json::array();
  for (const auto& e : entries.items) {
    list.push_back({{"seq", e.seq},
                    {"at", e.at},
                    {"actor", e.actor},
                    {"subject", e.subject},
                    {"event", e.event},
                    {"detail", e.detail},
                    {"hash", HexEncode(e.hash)}});
  }
  return jf::Dump({{"entries", std::move(list)}, {"next", NextJson(entries.next)}});
}

Result<Page<AuditView>> DecodeAuditList(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(Json o, jf::ParseObject(text, "the audit list", kMaxListBytes));
  HENB_ASSIGN_OR_RETURN(const Json* list, jf::Array(o, "entries", kMaxListItems));
  Page<AuditView> out;
  out.items.reserve(list->size());
  for (const auto& item : *list) {
    if (!item.is_object()) return Error(ErrorCode::kNetBadRequest, "an entry is not an object");
    AuditView e;
    HENB_ASSIGN_OR_RETURN(e.seq, jf::Int(item, "seq", 1, INT64_MAX));
    HENB_ASSIGN_OR_RETURN(e.at, jf::Int(item, "at", 0, INT64_MAX));
    HENB_ASSIGN_OR_RETURN(e.actor, jf::Text(item, "actor", kMaxShortText));
    HENB_ASSIGN_OR_RETURN(e.subject, jf::Text(item, "subject", kMaxShortText));
    HENB_ASSIGN_OR_RETURN(e.event, jf::Text(item, "event", kMaxShortText));
    HENB_ASSIGN_OR_RETURN(e.detail, jf::Text(item, "detail", kMaxJobDetailBytes));
    HENB_ASSIGN_OR_RETURN(e.hash, jf::Hex(item, "hash", 64));
    out.items.push_back(std::move(e));
  }
  HENB_ASSIGN_OR_RETURN(out.next, jf::Text(o, "next", kMaxCursorBytes, false));
  return out;
}

}  // namespace henbtrust
