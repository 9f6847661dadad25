// Vendor signatures with a k-of-n threshold (as TUF does) and the trust root
// that names the keys. Layouts: docs/release-bundle.md.
#pragma once

#include <string_view>
#include <vector>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/keys.h"

namespace henbtrust {

inline constexpr size_t kMaxSignatures = 16;
inline constexpr size_t kMaxSignatureSize = 1024;
inline constexpr size_t kMaxRootKeys = 16;

// What a signature covers: domain || 0x00 || body.
inline constexpr std::string_view kManifestDomain = "henbtrust release manifest v1";
inline constexpr std::string_view kRootDomain = "henbtrust trust root v1";

// SHA-256 of the key's DER SubjectPublicKeyInfo.
Bytes KeyIdOf(const PublicKey& key);

struct ReleaseSignature {
  Bytes key_id;     // 32 bytes
  Bytes signature;  // ECDSA (DER) for EC keys, RSASSA-PKCS1-v1_5 for RSA; SHA-256
};

Bytes EncodeSignatures(const std::vector<ReleaseSignature>& sigs);
// Strict: count and sizes bounded, no repeated key id, nothing trailing.
Result<std::vector<ReleaseSignature>> ParseSignatures(ByteView bytes);
// The signed-file layout shared by bundles and trust roots: 8-byte magic,
// u32 body length, body, u32 signature block length, signature block.
Bytes EncodeSignedEnvelope(std::string_view magic, ByteView body,
                           const std::vector<ReleaseSignature>& sigs);
Result<ReleaseSignature> SignWithDomain(const PrivateKey& key, std::string_view domain,
                                        ByteView body);

class TrustRoot {
 public:
  // REQUIRES nothing: checks 1 <= threshold <= keys, distinct keys, bounds.
  static Result<TrustRoot> Create(std::vector<PublicKey> keys, uint16_t threshold,
                                  uint64_t version = 1);
  // A root file signed by its own threshold (the first root a device trusts).
  static Result<TrustRoot> ParseSelfSigned(ByteView file);
  // Accepts `next_file` as the successor of this root: version one higher,
  // signed by this root's threshold and by its own.
  Result<TrustRoot> VerifyRotation(ByteView next_file) const;
  // The root file: magic, body, signatures by `signers`.
  Result<Bytes> Sign(const std::vector<PrivateKey>& signers) const;

  uint64_t version() const { return version_; }
  uint16_t threshold() const { return threshold_; }
  const std::vector<PublicKey>& keys() const { return keys_; }
  const PublicKey* Find(ByteView key_id) const;

  // Every signature must come from a key of this root and verify over
  // domain || 0x00 || body; at least threshold() distinct keys must sign.
  // kReleaseUnsigned, kReleaseUnknownKey, kReleaseBadSignature, kReleaseThreshold.
  Status VerifyThreshold(std::string_view domain, ByteView body,
                         const std::vector<ReleaseSignature>& sigs) const;

 private:
  Bytes EncodeBody() const;
  uint64_t version_ = 1;
  uint16_t threshold_ = 1;
  std::vector<PublicKey> keys_;
  std::vector<Bytes> key_ids_;
};

}  // namespace henbtrust
