#include "store/postgres/postgres_store.h"

#include <charconv>
#include <cstring>

namespace henbtrust {

namespace postgres {

std::vector<const char*> Params::values() const {
  std::vector<const char*> v;
  for (const auto& s : store_) v.push_back(s.data());
  return v;
}

std::vector<int> Params::lengths() const {
  std::vector<int> v;
  for (const auto& s : store_) v.push_back(static_cast<int>(s.size()));
  return v;
}

std::string ColText(PGresult* r, int col, int row) {
  return std::string(PQgetvalue(r, row, col), PQgetlength(r, row, col));
}

int64_t IntText(const char* text) {
  int64_t value = 0;  // the server's own decimal text: parsed as such, never thrown on
  std::from_chars(text, text + std::strlen(text), value);
  return value;
}

int64_t ColInt(PGresult* r, int col, int row) { return IntText(PQgetvalue(r, row, col)); }

Bytes ColBlob(PGresult* r, int col, int row) {
  size_t len = 0;
  unsigned char* raw =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r, row, col)), &len);
  Bytes out(raw, raw + len);
  PQfreemem(raw);
  return out;
}

PostgresStore::~PostgresStore() {
  appraisals_.Close();
  for (PGconn* c : all_) PQfinish(c);
}

Status PostgresStore::Open(const std::string& conninfo, int connections) {
  HENB_TRY(Connect(conninfo));
  HENB_TRY(Migrate());
  for (int i = 1; i < connections; ++i) HENB_TRY(Connect(conninfo));
  return OkStatus();
}

Status PostgresStore::Connect(const std::string& conninfo) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  all_.push_back(c);
  if (PQstatus(c) != CONNECTION_OK) {
    return Error(ErrorCode::kStore,
                 std::string("cannot connect to PostgreSQL: ") + PQerrorMessage(c));
  }
  prepared_.try_emplace(c);
  MutexLock lock(mu_);
  free_.push_back(c);
  return OkStatus();
}

PostgresStore::Lease::Lease(PostgresStore* s) : s_(s) {
  MutexLock lock(s_->mu_);
  while (s_->free_.empty()) lock.Wait(s_->cv_);
  conn_ = s_->free_.back();
  s_->free_.pop_back();
}

PostgresStore::Lease::~Lease() {
  if (PQstatus(conn_) == CONNECTION_BAD) {
    PQreset(conn_);
    s_->prepared_.at(conn_).clear();  // a new session has none
  }
  MutexLock lock(s_->mu_);
  s_->free_.push_back(conn_);
  s_->cv_.notify_one();
}

Result<ResultPtr> PostgresStore::Query(const char* sql, const Params& p) {
  Lease conn(this);
  return QueryOn(conn.get(), sql, p);
}

Result<ResultPtr> PostgresStore::QueryOn(PGconn* conn, const char* sql, const Params& p) {
  const auto values = p.values();
  const auto lengths = p.lengths();
  PGresult* raw = nullptr;
  if (p.count() == 0) {
    raw = PQexecParams(conn, sql, 0, nullptr, nullptr, nullptr, nullptr, 0);
  } else {
    HENB_ASSIGN_OR_RETURN(const std::string* name, Prepared(conn, sql, p.count()));
    raw = PQexecPrepared(conn, name->c_str(), p.count(), values.data(), lengths.data(),
                         p.formats().data(), 0);
  }
  ResultPtr r(raw, PQclear);
  const auto status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return Error(ErrorCode::kStore, std::string("PostgreSQL: ") + PQresultErrorMessage(r.get()));
  }
  return r;
}

Result<const std::string*> PostgresStore::Prepared(PGconn* conn, const char* sql, int params) {
  auto& mine = prepared_.at(conn);
  auto it = mine.find(sql);
  if (it == mine.end()) {
    std::string name = "henb_" + std::to_string(mine.size());
    ResultPtr prepared(PQprepare(conn, name.c_str(), sql, params, nullptr), PQclear);
    if (PQresultStatus(prepared.get()) != PGRES_COMMAND_OK) {
      return Error(ErrorCode::kStore,
                   std::string("PostgreSQL: ") + PQresultErrorMessage(prepared.get()));
    }
    it = mine.emplace(sql, std::move(name)).first;
  }
  return &it->second;
}

Status PostgresStore::ExecScript(const char* sql) {
  Lease conn(this);
  ResultPtr r(PQexec(conn.get(), sql), PQclear);
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    return Error(ErrorCode::kStore, std::string("PostgreSQL: ") + PQresultErrorMessage(r.get()));
  }
  return OkStatus();
}

Status PostgresStore::Exec(const char* sql, const Params& p) {
  HENB_TRY(Query(sql, p));
  return OkStatus();
}

}  // namespace postgres

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& conninfo, int connections) {
  if (connections < 1) return Error(ErrorCode::kInvalidArgument, "connections must be >= 1");
  auto store = std::make_unique<postgres::PostgresStore>();
  HENB_TRY(store->Open(conninfo, connections));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace henbtrust
