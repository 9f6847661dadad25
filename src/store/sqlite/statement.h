// Private to the SQLite store: prepared statements kept for a connection's
// life, and one use of such a statement.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "henbtrust/core/bytes.h"

namespace henbtrust::sqlite {

// Prepared statements of one connection, keyed by the SQL literal's address
// (every statement is a literal). Not thread-safe: the owner of the
// connection guards it.
class StatementCache {
 public:
  StatementCache() = default;
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;
  // The statements are finalized here; sqlite3_close_v2 on the connection
  // before that is fine (it waits for them).
  ~StatementCache() {
    for (auto& [sql, stmt] : stmts_) sqlite3_finalize(stmt);
  }
  // The statement for `sql` on `db`, prepared on first use; null with the
  // failure in `*rc`.
  sqlite3_stmt* Get(sqlite3* db, const char* sql, int* rc) {
    auto it = stmts_.find(sql);
    if (it != stmts_.end()) {
      *rc = SQLITE_OK;
      return it->second;
    }
    sqlite3_stmt* stmt = nullptr;
    *rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (*rc == SQLITE_OK) stmts_.emplace(sql, stmt);
    return stmt;
  }

 private:
  std::unordered_map<const char*, sqlite3_stmt*> stmts_;
};

// One use of a cached statement: bound, stepped, then reset.
class Stmt {
 public:
  Stmt(StatementCache& cache, sqlite3* db, const char* sql) : stmt_(cache.Get(db, sql, &rc_)) {}
  ~Stmt() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Text(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Blob(int i, ByteView b) {
    // An empty span may have a null data pointer, which SQLite would bind as NULL.
    static const uint8_t kEmpty = 0;
    sqlite3_bind_blob(stmt_, i, b.empty() ? &kEmpty : b.data(), static_cast<int>(b.size()),
                      SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(stmt_); }
  std::string ColText(int i) {
    const auto* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
             : std::string();
  }
  Bytes ColBlob(int i) {
    const auto* p = static_cast<const uint8_t*>(sqlite3_column_blob(stmt_, i));
    return p ? Bytes(p, p + sqlite3_column_bytes(stmt_, i)) : Bytes();
  }
  int64_t ColInt(int i) { return sqlite3_column_int64(stmt_, i); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;  // written by the initialiser of stmt_: no default initialiser here
};

}  // namespace henbtrust::sqlite
