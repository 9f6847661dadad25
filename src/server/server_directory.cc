// The server directory: what `henbtrust server init` writes and the server
// reads.
#include <filesystem>

#include "henbtrust/core/file.h"
#include "henbtrust/server/server.h"
#include "henbtrust/store/audit_anchor.h"

namespace henbtrust {

Status InitServerDirectory(const std::string& dir, const std::vector<std::string>& hosts) {
  HENB_TRY(InitPveDirectory(dir, hosts));
  HENB_TRY(CreateAuditKey(dir));
  HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  HENB_TRY(WriteFileAtomic(dir + "/oam.key", AsBytes(key.ToPem()), 0600));
  HENB_TRY(WriteFileAtomic(dir + "/oam.pub", AsBytes(key.Public().ToPem())));
  std::error_code ec;
  std::filesystem::create_directories(dir + "/catalogue", ec);
  if (ec) return Error(ErrorCode::kIo, "cannot create " + dir + "/catalogue");
  return OkStatus();
}

Result<OamConfig> LoadOamConfig(const std::string& dir) {
  HENB_ASSIGN_OR_RETURN(std::string pem, ReadTextFile(dir + "/oam.key"));
  HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::FromPem(pem));
  OamConfig config{std::move(key), dir + "/catalogue"};
  return config;
}

Result<ServerOptions> LoadServerDirectory(const std::string& dir) {
  auto pve = LoadPveDirectory(dir);
  if (!pve.ok()) return pve.error().WithContext("server directory " + dir);
  auto oam = LoadOamConfig(dir);
  if (!oam.ok()) return oam.error().WithContext("server directory " + dir);
  ServerOptions options{std::move(pve->config), std::move(oam).value(), std::move(pve->server_tls)};
  options.store = ServerStoreLocation(dir, "");
  return options;
}

Result<TlsConfig> LoadOperatorTls(const std::string& dir) {
  auto cert = ReadTextFile(dir + "/operator.pem");
  auto key = ReadTextFile(dir + "/operator.key");
  auto ca = ReadTextFile(dir + "/ca.pem");
  if (!cert.ok() || !key.ok() || !ca.ok()) {
    return Error(ErrorCode::kIo, "the directory lacks operator.pem, operator.key or ca.pem");
  }
  return TlsConfig{std::move(cert).value(), std::move(key).value(), std::move(ca).value()};
}

std::string ServerStoreLocation(const std::string& dir, const std::string& store) {
  return store.empty() ? "sqlite:" + dir + "/henbtrust.db" : store;
}

}  // namespace henbtrust
