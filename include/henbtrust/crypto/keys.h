// Asymmetric keys: ECDSA (P-256, P-384) and RSA (2048 and up).
//
// PublicKey and PrivateKey are immutable handles; copies share the parsed
// key, so parse once and reuse. All methods are safe to call concurrently.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/digest.h"

namespace henbtrust {

enum class KeyType : uint8_t { kEcP256, kEcP384, kRsa };

enum class SignatureScheme : uint8_t {
  kEcdsa,     // signature: DER ECDSA-Sig-Value
  kRsaPkcs1,  // RSASSA-PKCS1-v1_5
  kRsaPss,    // RSASSA-PSS, salt length as long as the digest (any length accepted on verify)
};

std::string_view KeyTypeName(KeyType type);

class PublicKey {
 public:
  // SubjectPublicKeyInfo, PEM ("-----BEGIN PUBLIC KEY-----") or DER.
  static Result<PublicKey> FromPem(std::string_view pem);
  static Result<PublicKey> FromDer(ByteView spki);
  // Affine coordinates, big-endian, each at most the curve's coordinate size
  // (shorter ones have had leading zero bytes left out, as a TPM2B may).
  static Result<PublicKey> FromEcPoint(KeyType curve, ByteView x, ByteView y);
  // Big-endian modulus and public exponent.
  static Result<PublicKey> FromRsa(ByteView modulus, uint32_t exponent);

  KeyType type() const;
  int bits() const;
  std::string ToPem() const;
  Bytes ToDer() const;
  // REQUIRES: EC key. Fixed-size big-endian coordinates.
  Result<std::pair<Bytes, Bytes>> EcPoint() const;
  // REQUIRES: RSA key.
  Result<Bytes> RsaModulus() const;
  Result<uint32_t> RsaExponent() const;

  // Verifies `signature` over a precomputed `digest` made with `hash`.
  // Returns kCryptoBadSignature when it does not verify.
  Status VerifyDigest(SignatureScheme scheme, HashAlg hash, ByteView digest,
                      ByteView signature) const;
  Status Verify(SignatureScheme scheme, HashAlg hash, ByteView message, ByteView signature) const;

  // RSA-OAEP encryption with `label` (used by TPM2_MakeCredential).
  Result<Bytes> RsaOaepEncrypt(HashAlg hash, ByteView label, ByteView plaintext) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  friend class PrivateKey;
  explicit PublicKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

class PrivateKey {
 public:
  static Result<PrivateKey> Generate(KeyType type);
  // PKCS#8 or traditional, PEM (unencrypted) or DER.
  static Result<PrivateKey> FromPem(std::string_view pem);
  static Result<PrivateKey> FromDer(ByteView der);
  // An EC key from its big-endian private scalar. When `public_point` (04||x||y)
  // is given it is trusted to match and no point multiplication is done.
  static Result<PrivateKey> FromEcScalar(KeyType curve, ByteView scalar,
                                         ByteView public_point = {});

  KeyType type() const;
  PublicKey Public() const;
  std::string ToPem() const;  // PKCS#8
  Bytes ToDer() const;        // PKCS#8
  // REQUIRES: EC key. Fixed-size big-endian scalar.
  Result<Bytes> EcScalar() const;

  Result<Bytes> SignDigest(SignatureScheme scheme, HashAlg hash, ByteView digest) const;
  Result<Bytes> Sign(SignatureScheme scheme, HashAlg hash, ByteView message) const;

  // RSA-OAEP decryption, used by credential activation.
  Result<Bytes> RsaOaepDecrypt(HashAlg hash, ByteView label, ByteView ciphertext) const;
  // ECDH with `peer` on the same curve: the x-coordinate of the shared
  // point, fixed-size big-endian.
  Result<Bytes> EcdhSharedX(const PublicKey& peer) const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit PrivateKey(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Size in bytes of one coordinate (and of r and s) on `curve`.
size_t EcCoordinateSize(KeyType curve);
// Conversions between DER ECDSA-Sig-Value and fixed-size r and s.
Result<std::pair<Bytes, Bytes>> EcdsaDerToRs(ByteView der, size_t coordinate_size);
Result<Bytes> EcdsaRsToDer(ByteView r, ByteView s);

// AES-CFB (128-bit feedback) with a 16- or 32-byte key; decryption when
// `encrypt` is false.
Result<Bytes> AesCfb(ByteView key, ByteView iv, ByteView data, bool encrypt);

}  // namespace henbtrust
