// Campaigns and their members in SQLite (store/campaign.h).
#include "store/backend_rules.h"
#include "store/sqlite/sqlite_store.h"

namespace henbtrust::sqlite {

namespace {

// The campaigns table's columns in the order ReadCampaign reads and
// BindCampaign binds them.
#define HENB_CAMPAIGN_COLUMNS                                                                \
  "id, release_id, version, kind, selection, batch_size, max_failure_percent, rate, state, " \
  "detail, next_open_at, created_at, updated_at, ended_at_resume, failures_at_resume"

Campaign ReadCampaign(Stmt& s) {
  Campaign c;
  c.id = s.ColInt(0);
  c.release_id = s.ColText(1);
  c.version = s.ColText(2);
  c.kind = ParseJobKind(s.ColText(3)).value_or(JobKind::kUpdate);
  c.selection = s.ColText(4);
  c.batch_size = static_cast<int>(s.ColInt(5));
  c.max_failure_percent = static_cast<int>(s.ColInt(6));
  c.rate = static_cast<int>(s.ColInt(7));
  // A state this version does not know is read as aborted: nothing acts on it.
  c.state = ParseCampaignState(s.ColText(8)).value_or(CampaignState::kAborted);
  c.detail = s.ColText(9);
  c.next_open_at = s.ColInt(10);
  c.created_at = s.ColInt(11);
  c.updated_at = s.ColInt(12);
  c.ended_at_resume = static_cast<int>(s.ColInt(13));
  c.failures_at_resume = static_cast<int>(s.ColInt(14));
  return c;
}

// Binds every field but the id, from parameter 1 on.
void BindCampaign(Stmt& s, const Campaign& c) {
  s.Text(1, c.release_id).Text(2, c.version).Text(3, std::string(JobKindName(c.kind)));
  s.Text(4, c.selection).Int(5, c.batch_size).Int(6, c.max_failure_percent).Int(7, c.rate);
  s.Text(8, std::string(CampaignStateName(c.state))).Text(9, c.detail).Int(10, c.next_open_at);
  s.Int(11, c.created_at).Int(12, c.updated_at).Int(13, c.ended_at_resume);
  s.Int(14, c.failures_at_resume);
}

}  // namespace

Result<int64_t> SqliteStore::CreateCampaign(const Campaign& campaign,
                                            const std::vector<CampaignMember>& members,
                                            const AuditEntry& audit) {
  MutexLock lock(mu_);
  return InTransaction<int64_t>([&]() REQUIRES(mu_) -> Result<int64_t> {
    Stmt s(cache_, db_,
           "INSERT INTO campaigns (release_id, version, kind, selection, batch_size, "
           "max_failure_percent, rate, state, detail, next_open_at, created_at, updated_at, "
           "ended_at_resume, failures_at_resume) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    BindCampaign(s, campaign);
    HENB_TRY(Done(s, "create campaign"));
    const auto id = static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
    for (const auto& m : members) {
      Stmt add(cache_, db_,
               "INSERT INTO campaign_members (campaign_id, device_id, batch, job_id, note) "
               "VALUES (?,?,?,?,?)");
      add.Int(1, id).Text(2, m.device_id).Int(3, m.batch).Int(4, m.job_id).Text(5, m.note);
      HENB_TRY(Done(add, "add campaign member"));
    }
    HENB_TRY(WriteAudit(store_rules::AuditOfNewCampaign(audit, id)));
    return id;
  });
}

Result<std::optional<Campaign>> SqliteStore::GetCampaign(int64_t id) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db, "SELECT " HENB_CAMPAIGN_COLUMNS " FROM campaigns WHERE id = ?");
  s.Int(1, id);
  const int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<Campaign>();
  if (rc != SQLITE_ROW) return Fail("read campaign", r.db);
  return std::optional<Campaign>(ReadCampaign(s));
}

Result<std::vector<Campaign>> SqliteStore::ListCampaigns(bool running_only, int64_t after_id,
                                                         int limit) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db,
         running_only ? "SELECT " HENB_CAMPAIGN_COLUMNS
                        " FROM campaigns WHERE state = 'running' AND id > ?1 ORDER BY id LIMIT ?2"
                      : "SELECT " HENB_CAMPAIGN_COLUMNS
                        " FROM campaigns WHERE id > ?1 ORDER BY id LIMIT ?2");
  s.Int(1, after_id).Int(2, limit);
  std::vector<Campaign> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadCampaign(s));
  if (rc != SQLITE_DONE) return Fail("list campaigns", r.db);
  return out;
}

Result<std::vector<Campaign>> SqliteStore::ClaimCampaigns(const std::string& owner, int64_t now,
                                                          int64_t lease_until, int64_t after_id,
                                                          int limit) {
  MutexLock lock(mu_);
  return InTransaction<std::vector<Campaign>>([&]() REQUIRES(mu_) -> Result<std::vector<Campaign>> {
    std::vector<Campaign> out;
    {
      Stmt s(cache_, db_,
             "SELECT " HENB_CAMPAIGN_COLUMNS
             " FROM campaigns WHERE state = 'running' AND id > ?1 "
             "AND (lease_until <= ?2 OR lease_owner = ?3) ORDER BY id LIMIT ?4");
      s.Int(1, after_id).Int(2, now).Text(3, owner).Int(4, limit);
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) out.push_back(ReadCampaign(s));
      if (rc != SQLITE_DONE) return Fail("claim campaigns", db_);
    }
    for (const auto& c : out) {
      Stmt u(cache_, db_, "UPDATE campaigns SET lease_owner = ?1, lease_until = ?2 WHERE id = ?3");
      u.Text(1, owner).Int(2, lease_until).Int(3, c.id);
      HENB_TRY(Done(u, "lease campaign"));
    }
    return out;
  });
}

Result<bool> SqliteStore::UpdateCampaign(const Campaign& campaign, CampaignState from_state,
                                         const std::optional<AuditEntry>& audit) {
  MutexLock lock(mu_);
  return InTransaction<bool>([&]() REQUIRES(mu_) -> Result<bool> {
    Stmt s(cache_, db_,
           "UPDATE campaigns SET release_id = ?1, version = ?2, kind = ?3, selection = ?4, "
           "batch_size = ?5, max_failure_percent = ?6, rate = ?7, state = ?8, detail = ?9, "
           "next_open_at = ?10, created_at = ?11, updated_at = ?12, ended_at_resume = ?13, "
           "failures_at_resume = ?14 WHERE id = ?15 AND state = ?16");
    BindCampaign(s, campaign);
    s.Int(15, campaign.id).Text(16, std::string(CampaignStateName(from_state)));
    HENB_TRY(Done(s, "update campaign"));
    if (sqlite3_changes(db_) == 0) return false;
    if (audit) HENB_TRY(WriteAudit(*audit));
    return true;
  });
}

Result<std::vector<CampaignMember>> SqliteStore::CampaignMembers(int64_t campaign_id) {
  Reader& r = NextReader();
  MutexLock lock(r.mu);
  Stmt s(r.cache, r.db,
         "SELECT device_id, batch, job_id, note FROM campaign_members WHERE campaign_id = ? "
         "ORDER BY batch, device_id");
  s.Int(1, campaign_id);
  std::vector<CampaignMember> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    out.push_back(
        CampaignMember{s.ColText(0), static_cast<int>(s.ColInt(1)), s.ColInt(2), s.ColText(3)});
  }
  if (rc != SQLITE_DONE) return Fail("read campaign members", r.db);
  return out;
}

Result<bool> SqliteStore::RefuseCampaignMember(int64_t campaign_id, const std::string& device_id,
                                               const std::string& note) {
  MutexLock lock(mu_);
  return InTransaction<bool>([&]() REQUIRES(mu_) -> Result<bool> {
    Stmt s(cache_, db_,
           "UPDATE campaign_members SET note = ? WHERE campaign_id = ? AND device_id = ? AND "
           "job_id = 0 AND note = ''");
    s.Text(1, note).Int(2, campaign_id).Text(3, device_id);
    HENB_TRY(Done(s, "refuse a campaign member"));
    return sqlite3_changes(db_) > 0;
  });
}

}  // namespace henbtrust::sqlite
