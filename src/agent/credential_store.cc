#include "henbtrust/agent/credential_store.h"

namespace henbtrust {

namespace {

constexpr size_t kMaxCredentialFileBytes = size_t{1} << 20;

struct Paths {
  explicit Paths(const std::string& dir)
      : certificate(dir + "/device.pem"),
        key(dir + "/device.key"),
        client_ca(dir + "/client-ca.pem"),
        next_certificate(certificate + ".next"),
        next_key(key + ".next") {}
  std::string certificate, key, client_ca;
  // A renewal's pair before it takes the place of the old one. The new
  // certificate, written last, is the point after which the renewal is
  // finished rather than forgotten.
  std::string next_certificate, next_key;
};

Result<std::string> ReadText(Env* env, const std::string& path) {
  HENB_ASSIGN_OR_RETURN(Bytes bytes, env->ReadFile(path, kMaxCredentialFileBytes));
  return ToString(bytes);
}

// Moves the next key (if it is still there) and then the next certificate
// into place, syncing the directory after each, so that the certificate
// never reaches its place before its key.
Status Promote(Env* env, const std::string& dir, const Paths& p) {
  if (env->FileExists(p.next_key)) {
    HENB_TRY(env->RenameFile(p.next_key, p.key));
    HENB_TRY(env->SyncDirectory(dir));
  }
  HENB_TRY(env->RenameFile(p.next_certificate, p.certificate));
  return env->SyncDirectory(dir);
}

}  // namespace

Result<std::optional<DeviceCredentials>> LoadCredentials(Env* env, const std::string& dir,
                                                         const std::string& ca_pem) {
  const Paths p(dir);
  if (env->FileExists(p.next_certificate)) {
    HENB_TRY(Promote(env, dir, p));
  } else if (env->FileExists(p.next_key)) {
    HENB_TRY(env->RemoveFile(p.next_key));
    HENB_TRY(env->SyncDirectory(dir));
  }
  if (!env->FileExists(p.certificate) || !env->FileExists(p.key) || !env->FileExists(p.client_ca)) {
    return std::optional<DeviceCredentials>();
  }
  DeviceCredentials c;
  HENB_ASSIGN_OR_RETURN(c.certificate_pem, ReadText(env, p.certificate));
  HENB_ASSIGN_OR_RETURN(c.private_key_pem, ReadText(env, p.key));
  HENB_ASSIGN_OR_RETURN(c.client_ca_pem, ReadText(env, p.client_ca));
  c.ca_pem = ca_pem;
  return std::optional<DeviceCredentials>(std::move(c));
}

Status StoreCredentials(Env* env, const std::string& dir, const DeviceCredentials& credentials) {
  const Paths p(dir);
  HENB_TRY(env->CreateDirectories(dir));
  HENB_TRY(env->WriteFileAtomic(p.client_ca, AsBytes(credentials.client_ca_pem)));
  HENB_TRY(env->WriteFileAtomic(p.next_key, AsBytes(credentials.private_key_pem), 0600));
  HENB_TRY(env->WriteFileAtomic(p.next_certificate, AsBytes(credentials.certificate_pem)));
  return Promote(env, dir, p);
}

}  // namespace henbtrust
