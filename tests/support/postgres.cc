#include "support/postgres.h"

#include <unistd.h>

#include <filesystem>
#include <random>

namespace henbtrust::testing {

namespace {
constexpr char kBin[] = "/usr/lib/postgresql/15/bin/";
}

std::string PostgresServer::AsOwner(const std::string& command) const {
  return ::geteuid() == 0 ? "runuser -u postgres -- " + command : command;
}

PostgresServer::PostgresServer() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "henbpg.XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  if (::geteuid() == 0) Run("chown postgres: " + dir_);
  auto init =
      Run(AsOwner(std::string(kBin) + "initdb -D " + dir_ + "/data -A trust -U henb --no-sync"));
  if (init.exit_code != 0) {
    error_ = "initdb: " + init.err;
    return;
  }
  // A port, not test data: never from TestSeed() (see Swtpm::Swtpm).
  std::mt19937 rng(std::random_device{}());
  for (int attempt = 0; attempt < 10 && port_ == 0; ++attempt) {
    const auto port = static_cast<uint16_t>(std::uniform_int_distribution<int>(20000, 60000)(rng));
    auto start = Run(AsOwner(
        std::string(kBin) + "pg_ctl -D " + dir_ + "/data -w -t 30 -o \"-p " + std::to_string(port) +
        " -k " + dir_ + " -c listen_addresses=127.0.0.1 -c fsync=off\" -l " + dir_ + "/log start"));
    if (start.exit_code == 0) port_ = port;
  }
  if (port_ == 0) error_ = "pg_ctl start failed: " + Run("cat " + dir_ + "/log").out;
}

PostgresServer::~PostgresServer() {
  if (port_ != 0)
    Run(AsOwner(std::string(kBin) + "pg_ctl -D " + dir_ + "/data -m immediate -w stop"));
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string PostgresServer::NewDatabase() {
  const std::string name = "henb_test_" + std::to_string(next_db_++);
  Run("psql -h 127.0.0.1 -p " + std::to_string(port_) +
      " -U henb -d postgres -c 'CREATE DATABASE " + name + "'");
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=henb dbname=" + name;
}

}  // namespace henbtrust::testing
