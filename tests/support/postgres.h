// A private PostgreSQL server for tests: initdb and pg_ctl in a temporary
// directory on a free loopback port (as the postgres user when run as root,
// since initdb refuses root), stopped on destruction.
#pragma once

#include <string>

#include "support/test_support.h"

namespace henbtrust::testing {

class PostgresServer {
 public:
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  bool ok() const { return port_ != 0; }
  const std::string& error() const { return error_; }
  // Creates a fresh database and returns its libpq conninfo.
  std::string NewDatabase();

 private:
  std::string AsOwner(const std::string& command) const;
  std::string dir_;
  uint16_t port_ = 0;
  int next_db_ = 0;
  std::string error_;
};

}  // namespace henbtrust::testing
