#include <sys/stat.h>

#include "henbtrust/core/file.h"
#include "henbtrust/crypto/random.h"
#include "henbtrust/pve/service.h"

namespace henbtrust {

namespace {

Status WritePem(const std::string& path, const std::string& pem, unsigned mode) {
  return WriteFileAtomic(path, AsBytes(pem), mode);
}

}  // namespace

Result<IssuedIdentity> IssueClientIdentity(const Certificate& ca, const PrivateKey& ca_key,
                                           const std::string& common_name, std::string_view role) {
  HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  CertificateSpec spec;
  spec.common_name = common_name;
  spec.organization = std::string(role);
  spec.client_auth = true;
  HENB_ASSIGN_OR_RETURN(Certificate cert, IssueCertificate(spec, key.Public(), ca_key, &ca));
  return IssuedIdentity{cert.ToPem(), key.ToPem()};
}

namespace {

Result<std::pair<Certificate, PrivateKey>> NewRootCa(const std::string& name) {
  HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  CertificateSpec spec;
  spec.common_name = name;
  spec.organization = "henbtrust";
  spec.is_ca = true;
  spec.validity = std::chrono::hours(24 * 365 * 10);
  HENB_ASSIGN_OR_RETURN(Certificate ca, IssueCertificate(spec, key.Public(), key, nullptr));
  return std::make_pair(std::move(ca), std::move(key));
}

}  // namespace

Status InitPveDirectory(const std::string& dir, const std::vector<std::string>& hosts) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return Error(ErrorCode::kIo, "cannot create " + dir);
  struct stat st {};
  if (::stat((dir + "/ca.key").c_str(), &st) == 0 ||
      ::stat((dir + "/client-ca.key").c_str(), &st) == 0) {
    return Error(ErrorCode::kInvalidArgument,
                 dir + " already holds the PVE's CAs; not overwriting them");
  }

  // Two roots, so that no certificate the PVE issues to a device (or a role)
  // can ever pass for a server's: clients trust only the server CA for
  // servers, and the servers only the client CA for clients.
  HENB_ASSIGN_OR_RETURN(auto server_root, NewRootCa("henbtrust server CA"));
  HENB_ASSIGN_OR_RETURN(auto client_root, NewRootCa("henbtrust client CA"));
  const auto& [ca, ca_key] = server_root;
  const auto& [client_ca, client_ca_key] = client_root;

  HENB_ASSIGN_OR_RETURN(PrivateKey server_key, PrivateKey::Generate(KeyType::kEcP256));
  CertificateSpec server;
  server.common_name = hosts.empty() ? "localhost" : hosts.front();
  server.organization = std::string(kRoleServer);
  server.server_auth = true;
  for (const auto& h : hosts) {
    if (h.find_first_not_of("0123456789.") == std::string::npos ||
        h.find(':') != std::string::npos) {
      server.ip_addresses.push_back(h);
    } else {
      server.dns_names.push_back(h);
    }
  }
  HENB_ASSIGN_OR_RETURN(Certificate server_cert,
                        IssueCertificate(server, server_key.Public(), ca_key, &ca));
  HENB_ASSIGN_OR_RETURN(PrivateKey ear_key, PrivateKey::Generate(KeyType::kEcP256));

  HENB_TRY(WritePem(dir + "/ca.pem", ca.ToPem(), 0644));
  HENB_TRY(WritePem(dir + "/ca.key", ca_key.ToPem(), 0600));
  HENB_TRY(WritePem(dir + "/client-ca.pem", client_ca.ToPem(), 0644));
  HENB_TRY(WritePem(dir + "/client-ca.key", client_ca_key.ToPem(), 0600));
  HENB_TRY(WritePem(dir + "/server.pem", server_cert.ToPem() + ca.ToPem(), 0644));
  HENB_TRY(WritePem(dir + "/server.key", server_key.ToPem(), 0600));
  HENB_TRY(WritePem(dir + "/ear.key", ear_key.ToPem(), 0600));
  HENB_TRY(WritePem(dir + "/ear.pub", ear_key.Public().ToPem(), 0644));
  HENB_ASSIGN_OR_RETURN(Bytes nonce_key, RandomBytes(32));
  HENB_TRY(WriteFileAtomic(dir + "/nonce.key", nonce_key, 0600));
  const std::pair<const char*, std::string_view> roles[] = {
      {"pve-client", kRolePve}, {"operator", kRoleOperator}, {"segw", kRoleSegw}};
  for (const auto& [name, role] : roles) {
    HENB_ASSIGN_OR_RETURN(
        IssuedIdentity id,
        IssueClientIdentity(client_ca, client_ca_key, std::string("henbtrust ") + name, role));
    HENB_TRY(WritePem(dir + "/" + name + ".pem", id.certificate_pem, 0644));
    HENB_TRY(WritePem(dir + "/" + name + ".key", id.private_key_pem, 0600));
  }
  return OkStatus();
}

Result<PveDirectory> LoadPveDirectory(const std::string& dir) {
  HENB_ASSIGN_OR_RETURN(std::string server_ca_pem, ReadTextFile(dir + "/ca.pem"));
  HENB_ASSIGN_OR_RETURN(std::string ca_pem, ReadTextFile(dir + "/client-ca.pem"));
  HENB_ASSIGN_OR_RETURN(Certificate ca, Certificate::FromPem(ca_pem));
  HENB_ASSIGN_OR_RETURN(std::string ca_key_pem, ReadTextFile(dir + "/client-ca.key"));
  HENB_ASSIGN_OR_RETURN(PrivateKey ca_key, PrivateKey::FromPem(ca_key_pem));
  HENB_ASSIGN_OR_RETURN(std::string ear_key_pem, ReadTextFile(dir + "/ear.key"));
  HENB_ASSIGN_OR_RETURN(PrivateKey ear_key, PrivateKey::FromPem(ear_key_pem));
  HENB_ASSIGN_OR_RETURN(Bytes nonce_key, ReadFile(dir + "/nonce.key", 64));
  if (nonce_key.size() < 16) return Error(ErrorCode::kMalformed, dir + "/nonce.key is too short");
  TlsConfig server{"", "", ca_pem};
  HENB_ASSIGN_OR_RETURN(server.certificate_chain, ReadTextFile(dir + "/server.pem"));
  HENB_ASSIGN_OR_RETURN(server.private_key, ReadTextFile(dir + "/server.key"));
  TlsConfig agent{"", "", ca_pem};
  HENB_ASSIGN_OR_RETURN(agent.certificate_chain, ReadTextFile(dir + "/pve-client.pem"));
  HENB_ASSIGN_OR_RETURN(agent.private_key, ReadTextFile(dir + "/pve-client.key"));
  return PveDirectory{PveConfig{.client_ca = ca,
                                .client_ca_key = ca_key,
                                .server_ca_pem = server_ca_pem,
                                .ear_key = ear_key,
                                .nonce_key = nonce_key,
                                .agent_tls = agent},
                      server};
}

}  // namespace henbtrust
