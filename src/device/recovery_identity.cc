#include "henbtrust/device/recovery_identity.h"

#include <cstring>

#include "device/device_files.h"
#include "henbtrust/crypto/x509.h"
#include "henbtrust/net/enrollment.h"
#include "henbtrust/net/protocol.h"

namespace henbtrust {

using device_files::StateError;

namespace {

constexpr size_t kMaxIdentityFileBytes = size_t{64} * 1024;
// The label, its 0 and a SHA-256: all a recovery activation context ever is.
constexpr size_t kRecoveryContextBytes = sizeof(kRecoveryActivationContextLabel) + 32;

std::string StageDir(const std::string& device_dir) { return device_dir + "/boot-stage"; }
std::string KeyFile(const std::string& dir) { return dir + "/recovery.key"; }
std::string CertificateFile(const std::string& dir) { return dir + "/recovery.pem"; }
std::string CaFile(const std::string& dir) { return dir + "/recovery-ca.pem"; }

}  // namespace

Result<RecoveryIdentity> RecoveryIdentity::Create(Env& env, const std::string& device_dir) {
  const std::string dir = StageDir(device_dir);
  if (env.FileExists(KeyFile(dir))) return StateError(device_dir + " has a recovery key");
  HENB_ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcP256));
  HENB_TRY(env.CreateDirectories(dir));
  HENB_TRY(env.WriteFileAtomic(KeyFile(dir), AsBytes(key.ToPem()), 0400));
  return RecoveryIdentity(env, dir, std::move(key));
}

bool RecoveryIdentity::Exists(Env& env, const std::string& device_dir) {
  return env.FileExists(KeyFile(StageDir(device_dir)));
}

Result<RecoveryIdentity> RecoveryIdentity::Open(Env& env, const std::string& device_dir) {
  const std::string dir = StageDir(device_dir);
  if (!env.FileExists(KeyFile(dir))) {
    return Error(ErrorCode::kNotFound, device_dir + " has no recovery key");
  }
  HENB_ASSIGN_OR_RETURN(Bytes pem, env.ReadFile(KeyFile(dir), kMaxIdentityFileBytes));
  auto key = PrivateKey::FromPem(ToString(pem));
  if (!key.ok()) return StateError(KeyFile(dir) + ": " + key.error().message());
  return RecoveryIdentity(env, dir, std::move(key).value());
}

Result<Bytes> RecoveryIdentity::SignActivation(ByteView context) const {
  const size_t label = sizeof(kRecoveryActivationContextLabel);  // with its 0
  if (context.size() != kRecoveryContextBytes ||
      std::memcmp(context.data(), kRecoveryActivationContextLabel, label) != 0) {
    return Error(ErrorCode::kInvalidArgument,
                 "the recovery key signs only an enrollment's recovery activation context");
  }
  return key_.Sign(SignatureScheme::kEcdsa, HashAlg::kSha256, context);
}

Status RecoveryIdentity::StoreCertificate(const std::string& pem, const std::string& ca_pem) {
  auto refused = [](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "the recovery certificate " + why);
  };
  auto all = Certificate::AllFromPem(pem);
  if (!all.ok() || all->size() != 1) return refused("is not one PEM certificate");
  const auto& cert = all->front();
  auto key = cert.SubjectKey();
  if (!key.ok() || !Equal(key->ToDer(), PublicKeyDer())) {
    return refused("is for another key than the boot stage's");
  }
  if (cert.SubjectField("O") != kRoleRecovery) return refused("is not of the recovery role");
  const bool pinned = env_->FileExists(CaFile(dir_));
  std::string ca_text = ca_pem;
  if (pinned) {
    HENB_ASSIGN_OR_RETURN(Bytes kept, env_->ReadFile(CaFile(dir_), kMaxIdentityFileBytes));
    ca_text = ToString(kept);
  }
  auto ca = Certificate::FromPem(ca_text);
  if (!ca.ok()) return refused("comes with no CA certificate to check it against");
  if (auto st = VerifyChain(cert, {}, {*ca}); !st.ok()) {
    return refused(std::string("does not verify with the ") + (pinned ? "pinned " : "") +
                   "client CA: " + st.error().message());
  }
  if (!pinned) HENB_TRY(env_->WriteFileAtomic(CaFile(dir_), AsBytes(ca_text), 0444));
  return env_->WriteFileAtomic(CertificateFile(dir_), AsBytes(pem));
}

Result<std::string> RecoveryIdentity::CertificatePem() const {
  if (!env_->FileExists(CertificateFile(dir_))) {
    return Error(ErrorCode::kNotFound,
                 "the recovery image has no certificate: the device has not enrolled one");
  }
  HENB_ASSIGN_OR_RETURN(Bytes pem, env_->ReadFile(CertificateFile(dir_), kMaxIdentityFileBytes));
  return ToString(pem);
}

}  // namespace henbtrust
