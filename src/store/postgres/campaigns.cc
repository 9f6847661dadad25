// Campaigns and their members in PostgreSQL (store/campaign.h).
#include <algorithm>

#include "store/backend_rules.h"
#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

namespace {

#define HENB_CAMPAIGN_COLUMNS                                                                \
  "id, release_id, version, kind, selection, batch_size, max_failure_percent, rate, state, " \
  "detail, next_open_at, created_at, updated_at, ended_at_resume, failures_at_resume"

Params CampaignParams(const Campaign& c) {
  Params p;
  p.Text(c.release_id).Text(c.version).Text(std::string(JobKindName(c.kind))).Text(c.selection);
  p.Int(c.batch_size).Int(c.max_failure_percent).Int(c.rate);
  p.Text(std::string(CampaignStateName(c.state))).Text(c.detail).Int(c.next_open_at);
  p.Int(c.created_at).Int(c.updated_at).Int(c.ended_at_resume).Int(c.failures_at_resume);
  return p;
}

Campaign ReadCampaign(PGresult* p, int row) {
  Campaign c;
  c.id = ColInt(p, 0, row);
  c.release_id = ColText(p, 1, row);
  c.version = ColText(p, 2, row);
  c.kind = ParseJobKind(ColText(p, 3, row)).value_or(JobKind::kUpdate);
  c.selection = ColText(p, 4, row);
  c.batch_size = static_cast<int>(ColInt(p, 5, row));
  c.max_failure_percent = static_cast<int>(ColInt(p, 6, row));
  c.rate = static_cast<int>(ColInt(p, 7, row));
  // A state this version does not know is read as aborted: nothing acts on it.
  c.state = ParseCampaignState(ColText(p, 8, row)).value_or(CampaignState::kAborted);
  c.detail = ColText(p, 9, row);
  c.next_open_at = ColInt(p, 10, row);
  c.created_at = ColInt(p, 11, row);
  c.updated_at = ColInt(p, 12, row);
  c.ended_at_resume = static_cast<int>(ColInt(p, 13, row));
  c.failures_at_resume = static_cast<int>(ColInt(p, 14, row));
  return c;
}

}  // namespace

Result<int64_t> PostgresStore::CreateCampaign(const Campaign& campaign,
                                              const std::vector<CampaignMember>& members,
                                              const AuditEntry& audit) {
  return InTransaction<int64_t>([&](PGconn* c) -> Result<int64_t> {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        QueryOn(c,
                "INSERT INTO campaigns (release_id, version, kind, selection, batch_size, "
                "max_failure_percent, rate, state, detail, next_open_at, created_at, updated_at, "
                "ended_at_resume, failures_at_resume) "
                "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) RETURNING id",
                CampaignParams(campaign)));
    const int64_t id = ColInt(r.get(), 0);
    for (const auto& m : members) {
      HENB_TRY(QueryOn(c,
                       "INSERT INTO campaign_members (campaign_id, device_id, batch, job_id, note) "
                       "VALUES ($1,$2,$3,$4,$5)",
                       Params().Int(id).Text(m.device_id).Int(m.batch).Int(m.job_id).Text(m.note)));
    }
    HENB_TRY(WriteAudit(c, store_rules::AuditOfNewCampaign(audit, id)));
    return id;
  });
}

Result<std::optional<Campaign>> PostgresStore::GetCampaign(int64_t id) {
  HENB_ASSIGN_OR_RETURN(
      ResultPtr r,
      Query("SELECT " HENB_CAMPAIGN_COLUMNS " FROM campaigns WHERE id = $1", Params().Int(id)));
  if (PQntuples(r.get()) == 0) return std::optional<Campaign>();
  return std::optional<Campaign>(ReadCampaign(r.get(), 0));
}

Result<std::vector<Campaign>> PostgresStore::ListCampaigns(bool running_only, int64_t after_id,
                                                           int limit) {
  HENB_ASSIGN_OR_RETURN(
      ResultPtr r,
      Query(running_only ? "SELECT " HENB_CAMPAIGN_COLUMNS
                           " FROM campaigns WHERE state = 'running' AND id > $1 ORDER BY id "
                           "LIMIT $2"
                         : "SELECT " HENB_CAMPAIGN_COLUMNS
                           " FROM campaigns WHERE id > $1 ORDER BY id LIMIT $2",
            Params().Int(after_id).Int(limit)));
  std::vector<Campaign> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(ReadCampaign(r.get(), i));
  return out;
}

Result<std::vector<Campaign>> PostgresStore::ClaimCampaigns(const std::string& owner, int64_t now,
                                                            int64_t lease_until, int64_t after_id,
                                                            int limit) {
  HENB_ASSIGN_OR_RETURN(
      ResultPtr r, Query("UPDATE campaigns SET lease_owner = $1, lease_until = $2 WHERE id IN ("
                         "SELECT id FROM campaigns WHERE state = 'running' AND id > $3 "
                         "AND (lease_until <= $4 OR lease_owner = $1) ORDER BY id LIMIT $5 "
                         "FOR UPDATE SKIP LOCKED) RETURNING " HENB_CAMPAIGN_COLUMNS,
                         Params().Text(owner).Int(lease_until).Int(after_id).Int(now).Int(limit)));
  std::vector<Campaign> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(ReadCampaign(r.get(), i));
  std::sort(out.begin(), out.end(),
            [](const Campaign& a, const Campaign& b) { return a.id < b.id; });
  return out;
}

Result<bool> PostgresStore::UpdateCampaign(const Campaign& campaign, CampaignState from_state,
                                           const std::optional<AuditEntry>& audit) {
  return InTransaction<bool>([&](PGconn* c) -> Result<bool> {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        QueryOn(c,
                "UPDATE campaigns SET release_id = $1, version = $2, kind = $3, selection = $4, "
                "batch_size = $5, max_failure_percent = $6, rate = $7, state = $8, detail = $9, "
                "next_open_at = $10, created_at = $11, updated_at = $12, ended_at_resume = $13, "
                "failures_at_resume = $14 WHERE id = $15 AND state = $16",
                CampaignParams(campaign)
                    .Int(campaign.id)
                    .Text(std::string(CampaignStateName(from_state)))));
    if (std::string(PQcmdTuples(r.get())) == "0") return false;
    if (audit) HENB_TRY(WriteAudit(c, *audit));
    return true;
  });
}

Result<std::vector<CampaignMember>> PostgresStore::CampaignMembers(int64_t campaign_id) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r,
                        Query("SELECT device_id, batch, job_id, note FROM campaign_members "
                              "WHERE campaign_id = $1 ORDER BY batch, device_id",
                              Params().Int(campaign_id)));
  std::vector<CampaignMember> out;
  out.reserve(static_cast<size_t>(PQntuples(r.get())));
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    out.push_back(CampaignMember{ColText(r.get(), 0, i), static_cast<int>(ColInt(r.get(), 1, i)),
                                 ColInt(r.get(), 2, i), ColText(r.get(), 3, i)});
  }
  return out;
}

Result<bool> PostgresStore::RefuseCampaignMember(int64_t campaign_id, const std::string& device_id,
                                                 const std::string& note) {
  HENB_ASSIGN_OR_RETURN(ResultPtr r,
                        Query("UPDATE campaign_members SET note = $1 WHERE campaign_id = $2 AND "
                              "device_id = $3 AND job_id = 0 AND note = ''",
                              Params().Text(note).Int(campaign_id).Text(device_id)));
  return std::string(PQcmdTuples(r.get())) != "0";
}

}  // namespace henbtrust::postgres
