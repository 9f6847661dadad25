#include <sqlite3.h>

#include "store/sqlite/sqlite_store.h"

namespace henbtrust {

namespace sqlite {

// sqlite3_close_v2 lets the statement caches finalize their statements afterwards.
SqliteStore::~SqliteStore() {
  appraisals_.Close();
  for (auto& r : readers_) sqlite3_close_v2(r->db);
  sqlite3_close_v2(db_);
}

Status SqliteStore::Open(const std::string& path) {
  // Nothing else uses the store yet; the lock is for the analysis, which
  // checks that the writer connection's cache is used only under mu_.
  MutexLock lock(mu_);
  if (sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,  // mu_
                      nullptr) != SQLITE_OK) {
    return Error(ErrorCode::kStore,
                 "cannot open SQLite database " + path + ": " + sqlite3_errmsg(db_));
  }
  sqlite3_busy_timeout(db_, 5000);
  // synchronous=FULL: in WAL mode, each commit is on disk before it is
  // answered (NORMAL would lose the last commits on power loss).
  HENB_TRY(Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"));
  HENB_TRY(Migrate());
  HENB_TRY(OpenReaders(path));
  NoteCommitsOfOthers();
  return OkStatus();
}

// Reads go to their own connections: in WAL mode they proceed while the
// writer commits.
Status SqliteStore::OpenReaders(const std::string& path) {
  const std::string cannot_open = "cannot open SQLite database " + path + ": ";
  for (int i = 0; i < kReaders; ++i) {
    auto r = std::make_unique<Reader>();
    if (sqlite3_open_v2(path.c_str(), &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
                        nullptr) != SQLITE_OK) {
      const std::string why = sqlite3_errmsg(r->db);
      sqlite3_close_v2(r->db);
      return Error(ErrorCode::kStore, cannot_open + why);
    }
    sqlite3_busy_timeout(r->db, 5000);
    readers_.push_back(std::move(r));
  }
  return OkStatus();
}

Status SqliteStore::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Error(ErrorCode::kStore, "SQLite: " + msg);
  }
  return OkStatus();
}

Error SqliteStore::Fail(const std::string& what, sqlite3* db) {
  return Error(ErrorCode::kStore, what + ": " + sqlite3_errmsg(db ? db : db_));
}

Status SqliteStore::Done(Stmt& s, const std::string& what) {
  if (!s.ok() || s.Step() != SQLITE_DONE) return Fail(what);
  return OkStatus();
}

Status SqliteStore::Control(const char* sql) {
  Stmt s(cache_, db_, sql);
  return Done(s, sql);
}

}  // namespace sqlite

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, Env* env) {
  if (env == nullptr) return Error(ErrorCode::kInvalidArgument, "no Env");
  // SQLite's memory statistics take a process-wide mutex on every
  // allocation, which concurrent requests then contend for; nothing reads
  // them. This must precede SQLite's initialisation, so once per process.
  static const int configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  (void)configured;
  auto store = std::make_unique<sqlite::SqliteStore>(env);
  HENB_TRY(store->Open(path));
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace henbtrust
