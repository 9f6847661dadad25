#include <libpq-fe.h>

#include <condition_variable>
#include <mutex>

#include "henbtrust/store/store.h"

namespace henbtrust {

namespace {

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
};

// Arbitrary key for the advisory lock that serialises migrations across instances.
constexpr int64_t kMigrationLock = 0x68656e62;

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

// Parameters of one statement: text, or binary for BYTEA.
class Params {
 public:
  Params& Text(std::string s) {
    store_.push_back(std::move(s));
    formats_.push_back(0);
    return *this;
  }
  Params& Int(int64_t v) { return Text(std::to_string(v)); }
  Params& Blob(ByteView b) {
    store_.emplace_back(b.begin(), b.end());
    formats_.push_back(1);
    return *this;
  }
  int count() const { return static_cast<int>(store_.size()); }
  std::vector<const char*> values() const {
    std::vector<const char*> v;
    for (const auto& s : store_) v.push_back(s.data());
    return v;
  }
  std::vector<int> lengths() const {
    std::vector<int> v;
    for (const auto& s : store_) v.push_back(static_cast<int>(s.size()));
    return v;
  }
  const std::vector<int>& formats() const { return formats_; }

 private:
  std::vector<std::string> store_;
  std::vector<int> formats_;
};

class PostgresStore final : public Store {
 public:
  ~PostgresStore() override {
    for (PGconn* c : all_) PQfinish(c);
  }

  Status Connect(const std::string& conninfo) {
    PGconn* c = PQconnectdb(conninfo.c_str());
    all_.push_back(c);
    if (PQstatus(c) != CONNECTION_OK) {
      return Error(ErrorCode::kStore,
                   std::string("cannot connect to PostgreSQL: ") + PQerrorMessage(c));
    }
    free_.push_back(c);
    return OkStatus();
  }

  // Migrations run on the first connection before the others open, so that
  // BEGIN ... COMMIT below share one session.
  Status Open(const std::string& conninfo, int connections) {
    HENB_TRY(Connect(conninfo));
    HENB_TRY(Exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)",
                  Params()));
    for (size_t v = 1; v <= std::size(kMigrations); ++v) {
      HENB_TRY(Exec("BEGIN", Params()));
      Status st = Exec("SELECT pg_advisory_xact_lock($1)", Params().Int(kMigrationLock));
      Result<ResultPtr> applied = st.ok()
                                      ? Query("SELECT 1 FROM schema_migrations WHERE version = $1",
                                              Params().Int(static_cast<int64_t>(v)))
                                      : Result<ResultPtr>(st.error());
      if (applied.ok() && PQntuples(applied->get()) == 0) {
        st = ExecScript(kMigrations[v - 1]);
        if (st.ok())
          st = Exec("INSERT INTO schema_migrations (version) VALUES ($1)",
                    Params().Int(static_cast<int64_t>(v)));
      } else if (!applied.ok()) {
        st = applied.error();
      }
      if (!st.ok()) {
        (void)Exec("ROLLBACK", Params());
        return st.error().WithContext("schema migration " + std::to_string(v));
      }
      HENB_TRY(Exec("COMMIT", Params()));
    }
    for (int i = 1; i < connections; ++i) HENB_TRY(Connect(conninfo));
    return OkStatus();
  }

  std::string Backend() const override { return "postgres"; }

  Status PutDevice(const DeviceRecord& d) override {
    return Exec(
        "INSERT INTO devices (device_id, hardware_model, ek_public, ek_certificate, ak_public, "
        "release_version, state, reset_count, clock, updated_at, release_id, agent_address) "
        "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) "
        "ON CONFLICT (device_id) DO UPDATE SET hardware_model = EXCLUDED.hardware_model, "
        "ek_public = EXCLUDED.ek_public, ek_certificate = EXCLUDED.ek_certificate, "
        "ak_public = EXCLUDED.ak_public, release_version = EXCLUDED.release_version, "
        "state = EXCLUDED.state, reset_count = EXCLUDED.reset_count, clock = EXCLUDED.clock, "
        "updated_at = EXCLUDED.updated_at, release_id = EXCLUDED.release_id, "
        "agent_address = EXCLUDED.agent_address",
        Params()
            .Text(d.device_id)
            .Text(d.hardware_model)
            .Blob(d.ek_public)
            .Blob(d.ek_certificate)
            .Blob(d.ak_public)
            .Text(d.release_version)
            .Text(d.state)
            .Int(d.reset_count)
            .Int(static_cast<int64_t>(d.clock))
            .Int(d.updated_at)
            .Text(d.release_id)
            .Text(d.agent_address));
  }

  Result<std::optional<DeviceRecord>> GetDevice(const std::string& id) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        Query("SELECT device_id, hardware_model, ek_public, ek_certificate, ak_public, "
              "release_version, state, reset_count, clock, updated_at, release_id, agent_address "
              "FROM devices WHERE device_id = $1",
              Params().Text(id)));
    if (PQntuples(r.get()) == 0) return std::optional<DeviceRecord>();
    PGresult* p = r.get();
    DeviceRecord d;
    d.device_id = Str(p, 0);
    d.hardware_model = Str(p, 1);
    d.ek_public = Blob(p, 2);
    d.ek_certificate = Blob(p, 3);
    d.ak_public = Blob(p, 4);
    d.release_version = Str(p, 5);
    d.state = Str(p, 6);
    d.reset_count = static_cast<uint32_t>(Int(p, 7));
    d.clock = static_cast<uint64_t>(Int(p, 8));
    d.updated_at = Int(p, 9);
    d.release_id = Str(p, 10);
    d.agent_address = Str(p, 11);
    return std::optional<DeviceRecord>(std::move(d));
  }

  Status PutManifest(const ManifestRecord& m) override {
    return Exec(
        "INSERT INTO manifests (release_id, version, manifest, revoked_reason) VALUES "
        "($1,$2,$3,$4) "
        "ON CONFLICT (release_id, version) DO UPDATE SET manifest = EXCLUDED.manifest, "
        "revoked_reason = EXCLUDED.revoked_reason",
        Params().Text(m.release_id).Text(m.version).Blob(m.manifest).Text(m.revoked_reason));
  }

  Result<std::optional<ManifestRecord>> GetManifest(const std::string& release_id,
                                                    const std::string& version) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r, Query("SELECT release_id, version, manifest, revoked_reason FROM manifests "
                           "WHERE release_id = $1 AND version = $2",
                           Params().Text(release_id).Text(version)));
    if (PQntuples(r.get()) == 0) return std::optional<ManifestRecord>();
    PGresult* p = r.get();
    return std::optional<ManifestRecord>(
        ManifestRecord{Str(p, 0), Str(p, 1), Blob(p, 2), Str(p, 3)});
  }

  Status RevokeRelease(const std::string& release_id, const std::string& version,
                       const std::string& reason) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        Query("UPDATE manifests SET revoked_reason = $1 WHERE release_id = $2 AND "
              "version = $3",
              Params().Text(reason.empty() ? "revoked" : reason).Text(release_id).Text(version)));
    if (std::string(PQcmdTuples(r.get())) == "0")
      return Error(ErrorCode::kNotFound, "no release " + release_id + " " + version);
    return OkStatus();
  }

  Result<bool> SpendNonce(ByteView nonce, int64_t expires_at) override {
    HENB_ASSIGN_OR_RETURN(ResultPtr r,
                          Query("INSERT INTO spent_nonces (nonce, expires_at) VALUES ($1,$2) "
                                "ON CONFLICT DO NOTHING",
                                Params().Blob(nonce).Int(expires_at)));
    return std::string(PQcmdTuples(r.get())) == "1";
  }

  Result<int64_t> PurgeSpentNonces(int64_t now) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r, Query("DELETE FROM spent_nonces WHERE expires_at < $1", Params().Int(now)));
    return std::stoll(PQcmdTuples(r.get()));
  }

  Status PutEnrollment(const EnrollmentRecord& e) override {
    return Exec(
        "INSERT INTO enrollments (device_id, secret_digest, request, expires_at) "
        "VALUES ($1,$2,$3,$4) ON CONFLICT (device_id) DO UPDATE SET "
        "secret_digest = EXCLUDED.secret_digest, request = EXCLUDED.request, "
        "expires_at = EXCLUDED.expires_at",
        Params().Text(e.device_id).Blob(e.secret_digest).Text(e.request).Int(e.expires_at));
  }

  Result<std::optional<EnrollmentRecord>> TakeEnrollment(const std::string& device_id,
                                                         int64_t now) override {
    HENB_ASSIGN_OR_RETURN(ResultPtr r,
                          Query("DELETE FROM enrollments WHERE device_id = $1 "
                                "RETURNING device_id, secret_digest, request, expires_at",
                                Params().Text(device_id)));
    if (PQntuples(r.get()) == 0) return std::optional<EnrollmentRecord>();
    PGresult* p = r.get();
    EnrollmentRecord e{Str(p, 0), Blob(p, 1), Str(p, 2), Int(p, 3)};
    if (e.expires_at <= now) return std::optional<EnrollmentRecord>();
    return std::optional<EnrollmentRecord>(std::move(e));
  }

  Result<int64_t> RecordAppraisal(const AppraisalRecord& a) override {
    HENB_ASSIGN_OR_RETURN(
        ResultPtr r,
        Query("WITH n AS (INSERT INTO spent_nonces (nonce, expires_at) SELECT $8::bytea, "
              "$9::bigint WHERE octet_length($8::bytea) > 0 ON CONFLICT DO NOTHING RETURNING 1), "
              "ok AS (SELECT 1 WHERE octet_length($8::bytea) = 0 OR EXISTS (SELECT 1 FROM n)), "
              "a AS (INSERT INTO appraisals (device_id, status, result, created_at) "
              "SELECT $1::text, $2::text, $3::text, $4::bigint FROM ok RETURNING id), "
              "u AS (UPDATE devices SET reset_count = $6::bigint, clock = $7::bigint "
              "WHERE $5::boolean AND EXISTS (SELECT 1 FROM ok) AND device_id = $1::text AND "
              "(reset_count < $6::bigint OR (reset_count = $6::bigint AND clock < $7::bigint))) "
              "SELECT id FROM a",
              Params()
                  .Text(a.device_id)
                  .Text(a.status)
                  .Text(a.result)
                  .Int(a.created_at)
                  .Text(a.advance_clock ? "true" : "false")
                  .Int(a.reset_count)
                  .Int(static_cast<int64_t>(a.clock))
                  .Blob(a.spent_nonce)
                  .Int(a.nonce_expires_at)));
    if (PQntuples(r.get()) == 0) return Error(ErrorCode::kPolicyNonce, "nonce already used");
    return Int(r.get(), 0);
  }

  Result<std::optional<AppraisalRecord>> LatestAppraisal(const std::string& device_id) override {
    HENB_ASSIGN_OR_RETURN(ResultPtr r,
                          Query("SELECT id, device_id, status, result, created_at FROM appraisals "
                                "WHERE device_id = $1 ORDER BY id DESC LIMIT 1",
                                Params().Text(device_id)));
    if (PQntuples(r.get()) == 0) return std::optional<AppraisalRecord>();
    PGresult* p = r.get();
    return std::optional<AppraisalRecord>(
        AppraisalRecord{Int(p, 0), Str(p, 1), Str(p, 2), Str(p, 3), Int(p, 4)});
  }

 private:
  static std::string Str(PGresult* r, int col) {
    return std::string(PQgetvalue(r, 0, col), PQgetlength(r, 0, col));
  }
  static int64_t Int(PGresult* r, int col) { return std::stoll(PQgetvalue(r, 0, col)); }
  static Bytes Blob(PGresult* r, int col) {
    size_t len = 0;
    unsigned char* raw =
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r, 0, col)), &len);
    Bytes out(raw, raw + len);
    PQfreemem(raw);
    return out;
  }

  // A connection from the pool for one statement; a broken one is reset.
  class Lease {
   public:
    explicit Lease(PostgresStore* s) : s_(s) {
      std::unique_lock<std::mutex> lock(s_->mu_);
      s_->cv_.wait(lock, [this] { return !s_->free_.empty(); });
      conn_ = s_->free_.back();
      s_->free_.pop_back();
    }
    ~Lease() {
      if (PQstatus(conn_) == CONNECTION_BAD) PQreset(conn_);
      std::lock_guard<std::mutex> lock(s_->mu_);
      s_->free_.push_back(conn_);
      s_->cv_.notify_one();
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    PGconn* get() const { return conn_; }

   private:
    PostgresStore* s_;
    PGconn* conn_;
  };

  Result<ResultPtr> Query(const char* sql, const Params& p) {
    Lease conn(this);
    const auto values = p.values();
    const auto lengths = p.lengths();
    ResultPtr r(PQexecParams(conn.get(), sql, p.count(), nullptr, values.data(), lengths.data(),
                             p.formats().data(), 0),
                PQclear);
    const auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return Error(ErrorCode::kStore, std::string("PostgreSQL: ") + PQresultErrorMessage(r.get()));
    }
    return r;
  }
  // Several statements at once (the simple query protocol); no parameters.
  Status ExecScript(const char* sql) {
    Lease conn(this);
    ResultPtr r(PQexec(conn.get(), sql), PQclear);
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      return Error(ErrorCode::kStore, std::string("PostgreSQL: ") + PQresultErrorMessage(r.get()));
    }
    return OkStatus();
  }
  Status Exec(const char* sql, const Params& p) {
    HENB_TRY(Query(sql, p));
    return OkStatus();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PGconn*> all_;   // owned
  std::vector<PGconn*> free_;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo, int connections) {
  if (connections < 1) return Error(ErrorCode::kInvalidArgument, "connections must be >= 1");
  auto store = std::make_unique<PostgresStore>();
  HENB_TRY(store->Open(conninfo, connections));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace henbtrust
