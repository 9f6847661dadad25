#include "store/postgres/postgres_store.h"

namespace henbtrust::postgres {

namespace {

// Versioned schema; each entry is applied once, in order, in one transaction.
const char* const kMigrations[] = {
    R"(CREATE TABLE devices (
         device_id TEXT PRIMARY KEY, hardware_model TEXT NOT NULL, ek_public BYTEA NOT NULL,
         ek_certificate BYTEA NOT NULL, ak_public BYTEA NOT NULL, release_version TEXT NOT NULL,
         state TEXT NOT NULL, reset_count BIGINT NOT NULL, clock BIGINT NOT NULL, updated_at BIGINT NOT NULL);
       CREATE TABLE manifests (
         release_id TEXT NOT NULL, version TEXT NOT NULL, manifest BYTEA NOT NULL,
         revoked_reason TEXT NOT NULL DEFAULT '', PRIMARY KEY (release_id, version));
       CREATE TABLE nonces (nonce BYTEA PRIMARY KEY, device_id TEXT NOT NULL, expires_at BIGINT NOT NULL);
       CREATE INDEX nonces_expiry ON nonces (expires_at);
       CREATE TABLE appraisals (
         id BIGSERIAL PRIMARY KEY, device_id TEXT NOT NULL, status TEXT NOT NULL,
         result TEXT NOT NULL, created_at BIGINT NOT NULL);
       CREATE INDEX appraisals_device ON appraisals (device_id, id);)",
    R"(ALTER TABLE devices ADD COLUMN release_id TEXT NOT NULL DEFAULT '';
       ALTER TABLE devices ADD COLUMN agent_address TEXT NOT NULL DEFAULT '';
       CREATE TABLE enrollments (
         device_id TEXT PRIMARY KEY, secret_digest BYTEA NOT NULL, request TEXT NOT NULL,
         expires_at BIGINT NOT NULL);)",
    R"(DROP TABLE nonces;
       CREATE TABLE spent_nonces (nonce BYTEA PRIMARY KEY, expires_at BIGINT NOT NULL);
       CREATE INDEX spent_nonces_expiry ON spent_nonces (expires_at);)",
    R"(CREATE TABLE jobs (
         id BIGSERIAL PRIMARY KEY, device_id TEXT NOT NULL, release_id TEXT NOT NULL,
         version TEXT NOT NULL, from_release_id TEXT NOT NULL, from_version TEXT NOT NULL,
         state TEXT NOT NULL, open BOOLEAN NOT NULL, expected_tim BYTEA NOT NULL,
         order_nonce BYTEA NOT NULL, order_token TEXT NOT NULL, deadline BIGINT NOT NULL,
         attempts INTEGER NOT NULL, next_action_at BIGINT NOT NULL, report TEXT NOT NULL,
         detail TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
       CREATE UNIQUE INDEX jobs_open_device ON jobs (device_id) WHERE open;
       CREATE INDEX jobs_due ON jobs (open, next_action_at);
       CREATE TABLE audit (
         seq BIGINT PRIMARY KEY, at BIGINT NOT NULL, actor TEXT NOT NULL, subject TEXT NOT NULL,
         event TEXT NOT NULL, detail TEXT NOT NULL, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL);)",
    // As the SQLite store's migration 7 (the two stores keep their own numbering).
    R"(ALTER TABLE devices ADD COLUMN certificate_serial TEXT NOT NULL DEFAULT '';
       DROP TABLE IF EXISTS enrollments;)",
    // As the SQLite store's migration 8.
    R"(ALTER TABLE jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'update';)",
    // As the SQLite store's migration 9.
    R"(CREATE TABLE campaigns (
         id BIGSERIAL PRIMARY KEY, release_id TEXT NOT NULL, version TEXT NOT NULL,
         kind TEXT NOT NULL, selection TEXT NOT NULL, batch_size INTEGER NOT NULL,
         max_failure_percent INTEGER NOT NULL, rate INTEGER NOT NULL, state TEXT NOT NULL,
         detail TEXT NOT NULL, ended_at_resume INTEGER NOT NULL,
         failures_at_resume INTEGER NOT NULL, next_open_at BIGINT NOT NULL, created_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL);
       CREATE INDEX campaigns_state ON campaigns (state, id);
       CREATE TABLE campaign_members (
         campaign_id BIGINT NOT NULL, device_id TEXT NOT NULL, batch INTEGER NOT NULL,
         job_id BIGINT NOT NULL, note TEXT NOT NULL, PRIMARY KEY (campaign_id, device_id));)",
    // As the SQLite store's migration 10.
    R"(ALTER TABLE jobs ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
       ALTER TABLE jobs ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
       ALTER TABLE campaigns ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
       ALTER TABLE campaigns ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
       CREATE TABLE device_groups (
         group_name TEXT NOT NULL, device_id TEXT NOT NULL, PRIMARY KEY (group_name, device_id));)",
    // The serials of decommissioned devices' certificates, which every
    // server reads every few seconds, without a scan of all devices.
    // (The same script as SQLite's migration 10.)
    R"(CREATE INDEX devices_decommissioned ON devices (certificate_serial)
         WHERE state = 'decommissioned';)",
    // As the SQLite store's migration 12: watchdog rows and model policies.
    R"(CREATE TABLE device_watchdog (
         device_id TEXT PRIMARY KEY, mode TEXT NOT NULL, reason TEXT NOT NULL,
         deadline BIGINT NOT NULL, last_ticket TEXT NOT NULL, last_ticket_at BIGINT NOT NULL,
         updated_at BIGINT NOT NULL);
       CREATE TABLE model_policies (
         hardware_model TEXT PRIMARY KEY, ticket_period BIGINT NOT NULL,
         recovery_release_id TEXT NOT NULL, recovery_version TEXT NOT NULL,
         updated_at BIGINT NOT NULL);)",
    // As the SQLite store's migration 13: the recovery image's TLS key.
    R"(ALTER TABLE devices ADD COLUMN recovery_public_key BYTEA NOT NULL DEFAULT ''::bytea;)",
};

// An arbitrary key for the advisory lock that serialises migrations across
// instances.
constexpr int64_t kMigrationLock = 0x68656e62;

}  // namespace

// Migrations run on the first connection before the others open, so that
// BEGIN ... COMMIT below share one session.
Status PostgresStore::Migrate() {
  HENB_TRY(
      Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)", Params()));
  for (size_t v = 1; v <= std::size(kMigrations); ++v) {
    HENB_TRY(Exec("BEGIN", Params()));
    Status st = Exec("SELECT pg_advisory_xact_lock($1)", Params().Int(kMigrationLock));
    Result<ResultPtr> applied = st.ok()
                                    ? Query("SELECT 1 FROM schema_migrations WHERE version = $1",
                                            Params().Int(static_cast<int64_t>(v)))
                                    : Result<ResultPtr>(st.error());
    if (applied.ok() && PQntuples(applied->get()) == 0) {
      st = ExecScript(kMigrations[v - 1]);
      if (st.ok()) {
        st = Exec("INSERT INTO schema_migrations (version) VALUES ($1)",
                  Params().Int(static_cast<int64_t>(v)));
      }
    } else if (!applied.ok()) {
      st = applied.error();
    }
    if (!st.ok()) {
      (void)Exec("ROLLBACK", Params());
      return st.error().WithContext("schema migration " + std::to_string(v));
    }
    HENB_TRY(Exec("COMMIT", Params()));
  }
  return OkStatus();
}

}  // namespace henbtrust::postgres
