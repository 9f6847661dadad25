#include "store/sqlite/sqlite_store.h"

namespace henbtrust::sqlite {

namespace {

// Versioned schema; each entry is applied once, in order, in one transaction.
const char* const kMigrations[] = {
    R"(CREATE TABLE devices (
         device_id TEXT PRIMARY KEY, hardware_model TEXT NOT NULL, ek_public BLOB NOT NULL,
         ek_certificate BLOB NOT NULL, ak_public BLOB NOT NULL, release_version TEXT NOT NULL,
         state TEXT NOT NULL, reset_count INTEGER NOT NULL, clock INTEGER NOT NULL, updated_at INTEGER NOT NULL);
       CREATE TABLE manifests (
         release_id TEXT NOT NULL, version TEXT NOT NULL, manifest BLOB NOT NULL,
         revoked_reason TEXT NOT NULL DEFAULT '', PRIMARY KEY (release_id, version));
       CREATE TABLE nonces (nonce BLOB PRIMARY KEY, device_id TEXT NOT NULL, expires_at INTEGER NOT NULL);
       CREATE INDEX nonces_expiry ON nonces (expires_at);
       CREATE TABLE appraisals (
         id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, status TEXT NOT NULL,
         result TEXT NOT NULL, created_at INTEGER NOT NULL);
       CREATE INDEX appraisals_device ON appraisals (device_id, id);)",
    R"(ALTER TABLE devices ADD COLUMN release_id TEXT NOT NULL DEFAULT '';
       ALTER TABLE devices ADD COLUMN agent_address TEXT NOT NULL DEFAULT '';
       CREATE TABLE enrollments (
         device_id TEXT PRIMARY KEY, secret_digest BLOB NOT NULL, request TEXT NOT NULL,
         expires_at INTEGER NOT NULL);)",
    R"(DROP TABLE nonces;
       CREATE TABLE spent_nonces (nonce BLOB PRIMARY KEY, expires_at INTEGER NOT NULL);
       CREATE INDEX spent_nonces_expiry ON spent_nonces (expires_at);)",
    R"(CREATE TABLE jobs (
         id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL, release_id TEXT NOT NULL,
         version TEXT NOT NULL, from_release_id TEXT NOT NULL, from_version TEXT NOT NULL,
         state TEXT NOT NULL, open INTEGER NOT NULL, expected_tim BLOB NOT NULL,
         order_nonce BLOB NOT NULL, order_token TEXT NOT NULL, deadline INTEGER NOT NULL,
         attempts INTEGER NOT NULL, next_action_at INTEGER NOT NULL, report TEXT NOT NULL,
         detail TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
       CREATE UNIQUE INDEX jobs_open_device ON jobs (device_id) WHERE open = 1;
       CREATE INDEX jobs_due ON jobs (open, next_action_at);
       CREATE TABLE audit (
         seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, subject TEXT NOT NULL,
         event TEXT NOT NULL, detail TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL);)",
    // What every appraisal writes per device (its TPM clock, its latest
    // result) in a narrow table of its own: a batch of records then shares
    // its few pages, instead of each record rewriting a page of the wide
    // devices table and one of an index over all appraisals.
    R"(CREATE TABLE device_state (
         device_id TEXT PRIMARY KEY, reset_count INTEGER NOT NULL, clock INTEGER NOT NULL,
         latest_appraisal INTEGER NOT NULL) WITHOUT ROWID;
       INSERT INTO device_state (device_id, reset_count, clock, latest_appraisal)
         SELECT d.device_id, d.reset_count, d.clock, COALESCE(MAX(a.id), 0)
         FROM devices d LEFT JOIN appraisals a ON a.device_id = d.device_id GROUP BY d.device_id;
       INSERT OR IGNORE INTO device_state (device_id, reset_count, clock, latest_appraisal)
         SELECT device_id, 0, 0, MAX(id) FROM appraisals GROUP BY device_id;
       ALTER TABLE devices DROP COLUMN reset_count;
       ALTER TABLE devices DROP COLUMN clock;
       DROP INDEX appraisals_device;)",
    // Spent nonces keyed by (expiry, nonce) in one B-tree: nonces begin
    // with their expiry, so a record's insert lands at the tree's end
    // instead of at a random page of a nonce index and of an expiry index;
    // the purge deletes a prefix. A nonce always comes with the same expiry,
    // so the pair is unique exactly when the nonce is.
    R"(CREATE TABLE spent_nonces_by_expiry (
         expires_at INTEGER NOT NULL, nonce BLOB NOT NULL,
         PRIMARY KEY (expires_at, nonce)) WITHOUT ROWID;
       INSERT INTO spent_nonces_by_expiry (expires_at, nonce)
         SELECT expires_at, nonce FROM spent_nonces;
       DROP TABLE spent_nonces;
       ALTER TABLE spent_nonces_by_expiry RENAME TO spent_nonces;)",
    // The one valid device certificate per device. Pending enrollments are
    // no longer stored (the device keeps a sealed token of its challenge).
    R"(ALTER TABLE devices ADD COLUMN certificate_serial TEXT NOT NULL DEFAULT '';
       DROP TABLE IF EXISTS enrollments;)",
    // What a job is for (store/job_state.h, JobKind): jobs made before are updates.
    R"(ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'update';)",
    // Campaigns and their members (store/campaign.h).
    R"(CREATE TABLE campaigns (
         id INTEGER PRIMARY KEY AUTOINCREMENT, release_id TEXT NOT NULL, version TEXT NOT NULL,
         kind TEXT NOT NULL, selection TEXT NOT NULL, batch_size INTEGER NOT NULL,
         max_failure_percent INTEGER NOT NULL, rate INTEGER NOT NULL, state TEXT NOT NULL,
         detail TEXT NOT NULL, ended_at_resume INTEGER NOT NULL,
         failures_at_resume INTEGER NOT NULL, next_open_at INTEGER NOT NULL, created_at INTEGER NOT NULL,
         updated_at INTEGER NOT NULL);
       CREATE INDEX campaigns_state ON campaigns (state, id);
       CREATE TABLE campaign_members (
         campaign_id INTEGER NOT NULL, device_id TEXT NOT NULL, batch INTEGER NOT NULL,
         job_id INTEGER NOT NULL, note TEXT NOT NULL, PRIMARY KEY (campaign_id, device_id));)",
    // Leases (which OAM instance drives a job or a campaign, until when) and
    // the devices' group labels.
    R"(ALTER TABLE jobs ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
       ALTER TABLE jobs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
       ALTER TABLE campaigns ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
       ALTER TABLE campaigns ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
       CREATE TABLE device_groups (
         group_name TEXT NOT NULL, device_id TEXT NOT NULL, PRIMARY KEY (group_name, device_id));)",
    // The serials of decommissioned devices' certificates, which every
    // server reads every few seconds, without a scan of all devices.
    // (The same script as PostgreSQL's migration 9.)
    R"(CREATE INDEX devices_decommissioned ON devices (certificate_serial)
         WHERE state = 'decommissioned';)",
    // The OAM's watchdog row per device (store.h, WatchdogRecord) and its
    // policy per hardware model (ModelPolicy). Like device_groups, a row
    // names its device without a foreign key: the writes check that the
    // device is enrolled in their transaction.
    // (PostgreSQL's migration 10 makes the same tables.)
    R"(CREATE TABLE device_watchdog (
         device_id TEXT PRIMARY KEY, mode TEXT NOT NULL, reason TEXT NOT NULL,
         deadline INTEGER NOT NULL, last_ticket TEXT NOT NULL, last_ticket_at INTEGER NOT NULL,
         updated_at INTEGER NOT NULL);
       CREATE TABLE model_policies (
         hardware_model TEXT PRIMARY KEY, ticket_period INTEGER NOT NULL,
         recovery_release_id TEXT NOT NULL, recovery_version TEXT NOT NULL,
         updated_at INTEGER NOT NULL);)",
    // The recovery image's TLS key per device (store.h, DeviceRecord).
    // (PostgreSQL's migration 11.)
    R"(ALTER TABLE devices ADD COLUMN recovery_public_key BLOB NOT NULL DEFAULT x'';)",
};

}  // namespace

Status SqliteStore::Migrate() {
  HENB_TRY(Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)"));
  for (size_t v = 1; v <= std::size(kMigrations); ++v) {
    Stmt q(cache_, db_, "SELECT 1 FROM schema_migrations WHERE version = ?");
    q.Int(1, static_cast<int64_t>(v));
    if (q.Step() == SQLITE_ROW) continue;
    HENB_TRY(Exec("BEGIN IMMEDIATE"));
    Status st = Exec(kMigrations[v - 1]);
    if (st.ok())
      st = Exec("INSERT INTO schema_migrations (version) VALUES (" + std::to_string(v) + ")");
    if (!st.ok()) {
      (void)Exec("ROLLBACK");
      return st.error().WithContext("schema migration " + std::to_string(v));
    }
    HENB_TRY(Exec("COMMIT"));
  }
  return OkStatus();
}

}  // namespace henbtrust::sqlite
