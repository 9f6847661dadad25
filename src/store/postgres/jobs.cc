#include <algorithm>
#include <tuple>

#include "store/backend_rules.h"
#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

namespace {

#define HENB_JOB_COLUMNS                                                                 \
  "id, device_id, release_id, version, from_release_id, from_version, state, open, "     \
  "expected_tim, order_nonce, order_token, deadline, attempts, next_action_at, report, " \
  "detail, created_at, updated_at, kind, lease_owner, lease_until"

Params JobParams(const UpdateJob& j) {
  Params p;
  p.Text(j.device_id).Text(j.release_id).Text(j.version).Text(j.from_release_id);
  p.Text(j.from_version)
      .Text(std::string(JobStateName(j.state)))
      .Text(j.open ? "true" : "false")
      .Blob(j.expected_tim);
  p.Blob(j.order_nonce).Text(j.order).Int(j.deadline).Int(j.attempts).Int(j.next_action_at);
  p.Text(j.report).Text(j.detail).Int(j.created_at).Int(j.updated_at);
  p.Text(std::string(JobKindName(j.kind)));
  return p;
}
UpdateJob ReadJob(PGresult* p, int row) {
  UpdateJob j;
  j.id = ColInt(p, 0, row);
  j.device_id = ColText(p, 1, row);
  j.release_id = ColText(p, 2, row);
  j.version = ColText(p, 3, row);
  j.from_release_id = ColText(p, 4, row);
  j.from_version = ColText(p, 5, row);
  // A state this version does not know is read as closed: nothing acts on it.
  j.state = ParseJobState(ColText(p, 6, row)).value_or(JobState::kFailed);
  j.open = ColText(p, 7, row) == "t";
  j.expected_tim = ColBlob(p, 8, row);
  j.order_nonce = ColBlob(p, 9, row);
  j.order = ColText(p, 10, row);
  j.deadline = ColInt(p, 11, row);
  j.attempts = static_cast<int>(ColInt(p, 12, row));
  j.next_action_at = ColInt(p, 13, row);
  j.report = ColText(p, 14, row);
  j.detail = ColText(p, 15, row);
  j.created_at = ColInt(p, 16, row);
  j.updated_at = ColInt(p, 17, row);
  // A kind this version does not know is an update: the strictest.
  j.kind = ParseJobKind(ColText(p, 18, row)).value_or(JobKind::kUpdate);
  j.lease_owner = ColText(p, 19, row);
  j.lease_until = ColInt(p, 20, row);
  return j;
}

}  // namespace

Result<int64_t> PostgresStore::CreateJob(const UpdateJob& job, const AuditEntry& audit,
                                         int64_t campaign_id) {
  return InTransaction<int64_t>([&](PGconn* c) -> Result<int64_t> {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        QueryOn(c,
                "INSERT INTO jobs (device_id, release_id, version, from_release_id, "
                "from_version, state, open, expected_tim, order_nonce, order_token, deadline, "
                "attempts, next_action_at, report, detail, created_at, updated_at, kind) VALUES "
                "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18) "
                "ON CONFLICT (device_id) WHERE open DO NOTHING RETURNING id",
                JobParams(job)));
    if (PQntuples(r.get()) == 0) {
      return Error(ErrorCode::kPolicyJobConflict,
                   "device " + job.device_id + " already has an open job");
    }
    const int64_t id = ColInt(r.get(), 0);
    if (campaign_id != 0) {
      HENB_ASSIGN_OR_RETURN(
          ResultPtr m, QueryOn(c,
                               "UPDATE campaign_members SET job_id = $1 WHERE campaign_id = $2 "
                               "AND device_id = $3 AND job_id = 0 AND note = ''",
                               Params().Int(id).Int(campaign_id).Text(job.device_id)));
      if (std::string(PQcmdTuples(m.get())) == "0") {
        return store_rules::MemberTaken(campaign_id, job.device_id);
      }
    }
    HENB_TRY(WriteAudit(c, store_rules::AuditOfNewJob(audit, id)));
    return id;
  });
}

Result<std::optional<UpdateJob>> PostgresStore::GetJob(int64_t id) {
  return OneJob("SELECT " HENB_JOB_COLUMNS " FROM jobs WHERE id = $1", Params().Int(id));
}

Result<std::optional<UpdateJob>> PostgresStore::OpenJobFor(const std::string& device_id) {
  return OneJob("SELECT " HENB_JOB_COLUMNS " FROM jobs WHERE device_id = $1 AND open",
                Params().Text(device_id));
}

Result<bool> PostgresStore::TransitionJob(const UpdateJob& job, JobState from_state,
                                          const std::optional<AuditEntry>& audit) {
  return InTransaction<bool>([&](PGconn* c) -> Result<bool> {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        QueryOn(c,
                "UPDATE jobs SET device_id = $1, release_id = $2, version = $3, "
                "from_release_id = $4, from_version = $5, state = $6, open = $7, "
                "expected_tim = $8, order_nonce = $9, order_token = $10, deadline = $11, "
                "attempts = $12, next_action_at = $13, report = $14, detail = $15, "
                "created_at = $16, updated_at = $17, kind = $18 WHERE id = $19 AND state = $20",
                JobParams(job).Int(job.id).Text(std::string(JobStateName(from_state)))));
    if (std::string(PQcmdTuples(r.get())) == "0") return false;
    if (audit) HENB_TRY(WriteAudit(c, *audit));
    return true;
  });
}

Result<std::vector<UpdateJob>> PostgresStore::ListJobs(bool open_only, int64_t due_by, int limit,
                                                       int64_t after_id) {
  HENB_ASSIGN_OR_RETURN(
      ResultPtr r,
      open_only ? Query("SELECT " HENB_JOB_COLUMNS " FROM jobs WHERE open AND "
                        "next_action_at <= $1 ORDER BY next_action_at, id LIMIT $2",
                        Params().Int(due_by).Int(limit))
                : Query("SELECT " HENB_JOB_COLUMNS " FROM jobs WHERE id > $1 ORDER BY id LIMIT $2",
                        Params().Int(after_id).Int(limit)));
  std::vector<UpdateJob> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(ReadJob(r.get(), i));
  return out;
}

// One statement: the rows another instance is claiming at this moment are
// locked, and SKIP LOCKED passes over them instead of waiting.
Result<std::vector<UpdateJob>> PostgresStore::ClaimDueJobs(const std::string& owner, int64_t now,
                                                           int64_t lease_until, int limit) {
  HENB_ASSIGN_OR_RETURN(
      ResultPtr r,
      Query("UPDATE jobs SET lease_owner = $1, lease_until = $2 WHERE id IN ("
            "SELECT id FROM jobs WHERE open AND next_action_at <= $3 "
            "AND (lease_until <= $3 OR lease_owner = $1) ORDER BY next_action_at, id LIMIT $4 "
            "FOR UPDATE SKIP LOCKED) RETURNING " HENB_JOB_COLUMNS,
            Params().Text(owner).Int(lease_until).Int(now).Int(limit)));
  std::vector<UpdateJob> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(ReadJob(r.get(), i));
  std::sort(out.begin(), out.end(), [](const UpdateJob& a, const UpdateJob& b) {
    return std::tie(a.next_action_at, a.id) < std::tie(b.next_action_at, b.id);
  });
  return out;
}

Result<std::optional<UpdateJob>> PostgresStore::OneJob(const char* sql, const Params& params) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r, Query(sql, params));
  if (PQntuples(r.get()) == 0) return std::optional<UpdateJob>();
  return std::optional<UpdateJob>(ReadJob(r.get(), 0));
}

Result<bool> PostgresStore::ClaimJob(int64_t id, const std::string& owner, int64_t now,
                                     int64_t lease_until) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r,
                        Query("UPDATE jobs SET lease_owner = $1, lease_until = $2 WHERE id = $3 "
                              "AND (lease_until <= $4 OR lease_owner = $1)",
                              Params().Text(owner).Int(lease_until).Int(id).Int(now)));
  return std::string(PQcmdTuples(r.get())) != "0";
}

}  // namespace henbtrust::postgres
