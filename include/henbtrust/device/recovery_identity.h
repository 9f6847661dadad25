// The recovery image's TLS identity (docs/recovery.md, "The recovery
// image's role"): a key the boot stage generates when the device is
// provisioned, and the certificate the PVE issues for it at enrollment
// (role henbtrust-recovery), which only the OAM's /v1/recovery/ endpoints
// admit. Both live in DIR/boot-stage/, beside the boot stage's state:
//   recovery.key     the private key (PKCS#8 PEM, 0400)
//   recovery.pem     its certificate, once enrolled
//   recovery-ca.pem  the client CA that issued the first one, pinned then
// The normal OS reaches the key only through SignActivation, which signs
// nothing but an enrollment's recovery activation context, and hands in a
// certificate only for this key, of the recovery role, from the pinned CA;
// the recovery image alone gets the pair (Device::RecoveryTls).
#pragma once

#include <string>

#include "henbtrust/core/env.h"
#include "henbtrust/crypto/keys.h"

namespace henbtrust {

class Device;

class RecoveryIdentity {
 public:
  // At provisioning: a new P-256 key. kDeviceState if one exists.
  static Result<RecoveryIdentity> Create(Env& env, const std::string& device_dir);
  // kNotFound for a device provisioned without one.
  static Result<RecoveryIdentity> Open(Env& env, const std::string& device_dir);
  // Whether the device has a recovery key (its file is there; not read).
  static bool Exists(Env& env, const std::string& device_dir);

  // DER SubjectPublicKeyInfo: what the enrollment request names.
  Bytes PublicKeyDer() const { return key_.Public().ToDer(); }
  // ES256 over `context`, which must be an enrollment's activation
  // context (net/enrollment.h, ActivationContext); kInvalidArgument else.
  Result<Bytes> SignActivation(ByteView context) const;
  // Keeps `pem` as recovery.pem: kInvalidArgument unless it is one
  // certificate whose key is this one, of role henbtrust-recovery, valid
  // now, and issued by the pinned client CA. The first certificate pins
  // `ca_pem` (the client CA the PVE named at that enrollment, when the OS
  // is trusted as at every first enrollment); later ones must chain to it,
  // so that an OS taken over later cannot replace it with one the OAM
  // would refuse.
  Status StoreCertificate(const std::string& pem, const std::string& ca_pem);
  // The certificate (PEM), once stored; kNotFound before.
  Result<std::string> CertificatePem() const;

 private:
  friend class Device;  // hands the key to the recovery image alone
  std::string PrivateKeyPem() const { return key_.ToPem(); }

  RecoveryIdentity(Env& env, std::string dir, PrivateKey key)
      : env_(&env), dir_(std::move(dir)), key_(std::move(key)) {}

  Env* env_;
  std::string dir_;  // DIR/boot-stage
  PrivateKey key_;
};

}  // namespace henbtrust
