#include "henbtrust/crypto/keys.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <cstring>

#include "crypto/ossl.h"

namespace henbtrust {

namespace {

using ossl::BioPtr;
using ossl::BnPtr;
using ossl::CryptoError;
using ossl::PkeyCtxPtr;
using ossl::PkeyPtr;

using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, ossl::Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, ossl::Deleter<OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>>;

const char* CurveName(KeyType t) { return t == KeyType::kEcP384 ? "secp384r1" : "prime256v1"; }

Result<KeyType> ClassifyKey(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    if (EVP_PKEY_get_bits(pkey) < 2048) {
      return Error(ErrorCode::kCryptoBadKey, "RSA keys shorter than 2048 bits are not accepted");
    }
    return KeyType::kRsa;
  }
  if (EVP_PKEY_is_a(pkey, "EC")) {
    char name[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) !=
        1) {
      return Error(ErrorCode::kCryptoBadKey, "EC key without a named curve");
    }
    if (std::strcmp(name, "prime256v1") == 0) return KeyType::kEcP256;
    if (std::strcmp(name, "secp384r1") == 0) return KeyType::kEcP384;
    return Error(ErrorCode::kCryptoUnsupported, std::string("unsupported curve ") + name);
  }
  return Error(ErrorCode::kCryptoUnsupported, "unsupported key algorithm");
}

BioPtr MemBio(std::string_view s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(len));
}

Bytes BnToFixed(const BIGNUM* bn, size_t size) {
  Bytes out(size);
  BN_bn2binpad(bn, out.data(), static_cast<int>(size));
  return out;
}

Status CheckDigestSize(HashAlg hash, ByteView digest) {
  if (digest.size() != DigestSize(hash)) {
    return Error(ErrorCode::kInvalidArgument, "digest size " + std::to_string(digest.size()) +
                                                  " does not match " +
                                                  std::string(HashAlgName(hash)));
  }
  return OkStatus();
}

Status ConfigureScheme(EVP_PKEY_CTX* ctx, SignatureScheme scheme, HashAlg hash, bool verify) {
  if (EVP_PKEY_CTX_set_signature_md(ctx, ossl::Md(hash)) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot set signature digest");
  }
  if (scheme == SignatureScheme::kRsaPkcs1 &&
      EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot set PKCS#1 padding");
  }
  if (scheme == SignatureScheme::kRsaPss) {
    if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(
            ctx, verify ? RSA_PSS_SALTLEN_AUTO : RSA_PSS_SALTLEN_DIGEST) != 1) {
      return CryptoError(ErrorCode::kCryptoFailure, "cannot set PSS padding");
    }
  }
  return OkStatus();
}

// A context for `pkey` from `pool`, or a new one, initialised for signing
// (or `verify`ing) and set up for (scheme, hash). Give it back with PutCtx.
Result<ossl::PkeyCtxPool::Entry> TakeCtx(ossl::PkeyCtxPool& pool, EVP_PKEY* pkey, KeyType type,
                                         SignatureScheme scheme, HashAlg hash, bool verify) {
  if ((type == KeyType::kRsa) == (scheme == SignatureScheme::kEcdsa)) {
    return Error(ErrorCode::kCryptoUnsupported, "signature scheme does not fit the key type");
  }
  ossl::PkeyCtxPool::Entry e{nullptr, scheme, hash};
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    if (!pool.free.empty()) {
      e = std::move(pool.free.back());
      pool.free.pop_back();
    }
  }
  if (e.ctx && e.scheme == scheme && e.hash == hash) return e;
  if (!e.ctx) {
    e.ctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    if (!e.ctx ||
        (verify ? EVP_PKEY_verify_init(e.ctx.get()) : EVP_PKEY_sign_init(e.ctx.get())) != 1)
      return CryptoError(ErrorCode::kCryptoFailure,
                         verify ? "cannot initialise verification" : "cannot initialise signing");
  }
  HENB_TRY(ConfigureScheme(e.ctx.get(), scheme, hash, verify));
  e.scheme = scheme;
  e.hash = hash;
  return e;
}

void PutCtx(ossl::PkeyCtxPool& pool, ossl::PkeyCtxPool::Entry e) {
  constexpr size_t kMaxPooled = 16;
  std::lock_guard<std::mutex> lock(pool.mu);
  if (pool.free.size() < kMaxPooled) pool.free.push_back(std::move(e));
}

}  // namespace

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcP256:
      return "ecc-p256";
    case KeyType::kEcP384:
      return "ecc-p384";
    case KeyType::kRsa:
      return "rsa";
  }
  return "unknown";
}

size_t EcCoordinateSize(KeyType curve) { return curve == KeyType::kEcP384 ? 48 : 32; }

// ---- PublicKey ----

Result<PublicKey> PublicKey::FromDer(ByteView spki) {
  const unsigned char* p = spki.data();
  PkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(spki.size())));
  if (!pkey) return CryptoError(ErrorCode::kCryptoBadKey, "not a DER SubjectPublicKeyInfo");
  if (p != spki.data() + spki.size()) {
    return Error(ErrorCode::kCryptoBadKey, "trailing bytes after SubjectPublicKeyInfo");
  }
  HENB_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get()));
  return PublicKey(std::make_shared<const Impl>(std::move(pkey), type));
}

Result<PublicKey> PublicKey::FromPem(std::string_view pem) {
  BioPtr bio = MemBio(pem);
  PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return CryptoError(ErrorCode::kCryptoBadKey, "not a PEM public key");
  HENB_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get()));
  return PublicKey(std::make_shared<const Impl>(std::move(pkey), type));
}

Result<PublicKey> PublicKey::FromEcPoint(KeyType curve, ByteView x, ByteView y) {
  if (curve == KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an EC curve");
  const size_t n = EcCoordinateSize(curve);
  if (x.size() > n || y.size() > n) {
    return Error(ErrorCode::kCryptoBadKey,
                 "EC point coordinates must be at most " + std::to_string(n) + " bytes");
  }
  // A TPM2B_ECC_PARAMETER may leave out leading zero bytes (tpm2-tools
  // writes coordinates that way); the uncompressed point needs them back.
  Bytes point(1 + 2 * n, 0);
  point[0] = 0x04;
  std::copy(x.begin(), x.end(), point.begin() + 1 + static_cast<std::ptrdiff_t>(n - x.size()));
  std::copy(y.begin(), y.end(), point.end() - static_cast<std::ptrdiff_t>(y.size()));
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, CurveName(curve), 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot build EC parameters");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return CryptoError(ErrorCode::kCryptoBadKey, "EC point is not on the curve");
  }
  PkeyPtr pkey(raw);
  return PublicKey(std::make_shared<const Impl>(std::move(pkey), curve));
}

Result<PublicKey> PublicKey::FromRsa(ByteView modulus, uint32_t exponent) {
  if (modulus.size() < 256 || modulus.size() > 1024) {
    return Error(ErrorCode::kCryptoBadKey,
                 "RSA modulus of " + std::to_string(modulus.size()) + " bytes");
  }
  BnPtr n(BN_bin2bn(modulus.data(), static_cast<int>(modulus.size()), nullptr));
  BnPtr e(BN_new());
  if (!n || !e || BN_set_word(e.get(), exponent == 0 ? 65537 : exponent) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot build RSA numbers");
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot build RSA parameters");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return CryptoError(ErrorCode::kCryptoBadKey, "invalid RSA public key");
  }
  PkeyPtr pkey(raw);
  HENB_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get()));
  return PublicKey(std::make_shared<const Impl>(std::move(pkey), type));
}

KeyType PublicKey::type() const { return impl_->type; }
int PublicKey::bits() const { return EVP_PKEY_get_bits(impl_->pkey.get()); }

std::string PublicKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), impl_->pkey.get());
  return BioToString(bio.get());
}

Bytes PublicKey::ToDer() const {
  unsigned char* buf = nullptr;
  const int len = i2d_PUBKEY(impl_->pkey.get(), &buf);
  if (len <= 0) return {};
  Bytes out(buf, buf + len);
  OPENSSL_free(buf);
  return out;
}

Result<std::pair<Bytes, Bytes>> PublicKey::EcPoint() const {
  if (impl_->type == KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an EC key");
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  if (EVP_PKEY_get_bn_param(impl_->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x) != 1 ||
      EVP_PKEY_get_bn_param(impl_->pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y) != 1) {
    BN_free(x);
    return CryptoError(ErrorCode::kCryptoFailure, "cannot read EC point");
  }
  BnPtr xp(x), yp(y);
  const size_t n = EcCoordinateSize(impl_->type);
  return std::make_pair(BnToFixed(x, n), BnToFixed(y, n));
}

Result<Bytes> PublicKey::RsaModulus() const {
  if (impl_->type != KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an RSA key");
  BIGNUM* n = nullptr;
  if (EVP_PKEY_get_bn_param(impl_->pkey.get(), OSSL_PKEY_PARAM_RSA_N, &n) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot read RSA modulus");
  }
  BnPtr np(n);
  return BnToFixed(n, static_cast<size_t>(BN_num_bytes(n)));
}

Result<uint32_t> PublicKey::RsaExponent() const {
  if (impl_->type != KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an RSA key");
  BIGNUM* e = nullptr;
  if (EVP_PKEY_get_bn_param(impl_->pkey.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot read RSA exponent");
  }
  BnPtr ep(e);
  if (BN_num_bits(e) > 32)
    return Error(ErrorCode::kCryptoUnsupported, "RSA exponent wider than 32 bits");
  return static_cast<uint32_t>(BN_get_word(e));
}

Status PublicKey::VerifyDigest(SignatureScheme scheme, HashAlg hash, ByteView digest,
                               ByteView signature) const {
  HENB_TRY(CheckDigestSize(hash, digest));
  HENB_ASSIGN_OR_RETURN(auto ctx, TakeCtx(impl_->verify_pool, impl_->pkey.get(), impl_->type,
                                          scheme, hash, /*verify=*/true));
  const int rc = EVP_PKEY_verify(ctx.ctx.get(), signature.data(), signature.size(), digest.data(),
                                 digest.size());
  PutCtx(impl_->verify_pool, std::move(ctx));
  if (rc != 1) {
    ossl::LastError();
    return Error(ErrorCode::kCryptoBadSignature, "signature does not verify");
  }
  return OkStatus();
}

Status PublicKey::Verify(SignatureScheme scheme, HashAlg hash, ByteView message,
                         ByteView signature) const {
  const Bytes digest = Hash(hash, message);
  return VerifyDigest(scheme, hash, digest, signature);
}

// ---- PrivateKey ----

Result<PrivateKey> PrivateKey::Generate(KeyType type) {
  EVP_PKEY* raw = type == KeyType::kRsa
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", CurveName(type));
  if (raw == nullptr) return CryptoError(ErrorCode::kCryptoFailure, "key generation failed");
  return PrivateKey(std::make_shared<const Impl>(PkeyPtr(raw), type));
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  BioPtr bio = MemBio(pem);
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return CryptoError(ErrorCode::kCryptoBadKey, "not a PEM private key");
  HENB_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get()));
  return PrivateKey(std::make_shared<const Impl>(std::move(pkey), type));
}

Result<PrivateKey> PrivateKey::FromDer(ByteView der) {
  const unsigned char* p = der.data();
  PkeyPtr pkey(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size())));
  if (!pkey) return CryptoError(ErrorCode::kCryptoBadKey, "not a DER private key");
  HENB_ASSIGN_OR_RETURN(KeyType type, ClassifyKey(pkey.get()));
  return PrivateKey(std::make_shared<const Impl>(std::move(pkey), type));
}

Result<PrivateKey> PrivateKey::FromEcScalar(KeyType curve, ByteView scalar, ByteView public_point) {
  if (curve == KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an EC curve");
  const size_t n = EcCoordinateSize(curve);
  if (scalar.size() != n) return Error(ErrorCode::kCryptoBadKey, "EC scalar has the wrong size");
  BnPtr d(BN_bin2bn(scalar.data(), static_cast<int>(n), nullptr));
  Bytes point(public_point.begin(), public_point.end());
  if (point.empty()) {
    using GroupPtr = std::unique_ptr<EC_GROUP, ossl::Deleter<EC_GROUP_free>>;
    using PointPtr = std::unique_ptr<EC_POINT, ossl::Deleter<EC_POINT_free>>;
    GroupPtr group(EC_GROUP_new_by_curve_name(curve == KeyType::kEcP384 ? NID_secp384r1
                                                                        : NID_X9_62_prime256v1));
    PointPtr pub(group ? EC_POINT_new(group.get()) : nullptr);
    if (!pub || EC_POINT_mul(group.get(), pub.get(), d.get(), nullptr, nullptr, nullptr) != 1) {
      return CryptoError(ErrorCode::kCryptoBadKey, "invalid EC scalar");
    }
    point.resize(1 + 2 * n);
    if (EC_POINT_point2oct(group.get(), pub.get(), POINT_CONVERSION_UNCOMPRESSED, point.data(),
                           point.size(), nullptr) != point.size()) {
      return CryptoError(ErrorCode::kCryptoFailure, "cannot encode EC point");
    }
  }
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, CurveName(curve), 0) !=
          1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot build EC parameters");
  }
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    return CryptoError(ErrorCode::kCryptoBadKey, "invalid EC key pair");
  }
  return PrivateKey(std::make_shared<const Impl>(PkeyPtr(raw), curve));
}

KeyType PrivateKey::type() const { return impl_->type; }

PublicKey PrivateKey::Public() const {
  // Re-encode the public half so the handle holds no private material.
  unsigned char* buf = nullptr;
  const int len = i2d_PUBKEY(impl_->pkey.get(), &buf);
  const unsigned char* p = buf;
  PkeyPtr pub(d2i_PUBKEY(nullptr, &p, len));
  OPENSSL_free(buf);
  return PublicKey(std::make_shared<const PublicKey::Impl>(std::move(pub), impl_->type));
}

std::string PrivateKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), impl_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  return BioToString(bio.get());
}

Bytes PrivateKey::ToDer() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  i2d_PKCS8PrivateKey_bio(bio.get(), impl_->pkey.get(), nullptr, nullptr, 0, nullptr, nullptr);
  const std::string s = BioToString(bio.get());
  return Bytes(s.begin(), s.end());
}

Result<Bytes> PrivateKey::EcScalar() const {
  if (impl_->type == KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an EC key");
  BIGNUM* d = nullptr;
  if (EVP_PKEY_get_bn_param(impl_->pkey.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot read EC scalar");
  }
  BnPtr dp(d);
  Bytes out = BnToFixed(d, EcCoordinateSize(impl_->type));
  return out;
}

Result<Bytes> PrivateKey::SignDigest(SignatureScheme scheme, HashAlg hash, ByteView digest) const {
  HENB_TRY(CheckDigestSize(hash, digest));
  HENB_ASSIGN_OR_RETURN(auto ctx, TakeCtx(impl_->sign_pool, impl_->pkey.get(), impl_->type, scheme,
                                          hash, /*verify=*/false));
  // The largest signature the key makes (what EVP_PKEY_sign reports when
  // asked for the size).
  const int max_size = EVP_PKEY_get_size(impl_->pkey.get());
  if (max_size <= 0) return CryptoError(ErrorCode::kCryptoFailure, "key without a signature size");
  size_t len = static_cast<size_t>(max_size);
  Bytes sig(len);
  const bool ok = EVP_PKEY_sign(ctx.ctx.get(), sig.data(), &len, digest.data(), digest.size()) == 1;
  if (!ok) return CryptoError(ErrorCode::kCryptoFailure, "signing failed");
  PutCtx(impl_->sign_pool, std::move(ctx));
  sig.resize(len);
  return sig;
}

Result<Bytes> PrivateKey::Sign(SignatureScheme scheme, HashAlg hash, ByteView message) const {
  const Bytes digest = Hash(hash, message);
  return SignDigest(scheme, hash, digest);
}

Result<Bytes> PrivateKey::RsaOaepDecrypt(HashAlg hash, ByteView label, ByteView ciphertext) const {
  if (impl_->type != KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an RSA key");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), ossl::Md(hash)) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "cannot initialise OAEP");
  }
  if (!label.empty()) {
    void* copy = OPENSSL_memdup(label.data(), label.size());
    if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), copy, static_cast<int>(label.size())) != 1) {
      OPENSSL_free(copy);
      return CryptoError(ErrorCode::kCryptoFailure, "cannot set OAEP label");
    }
  }
  size_t len = 0;
  if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, ciphertext.data(), ciphertext.size()) != 1) {
    return CryptoError(ErrorCode::kCryptoFailure, "OAEP decryption failed");
  }
  Bytes out(len);
  if (EVP_PKEY_decrypt(ctx.get(), out.data(), &len, ciphertext.data(), ciphertext.size()) != 1) {
    return CryptoError(ErrorCode::kCryptoBadSignature, "OAEP decryption failed");
  }
  out.resize(len);
  return out;
}

// ---- ECDSA encodings ----

Result<std::pair<Bytes, Bytes>> EcdsaDerToRs(ByteView der, size_t coordinate_size) {
  const unsigned char* p = der.data();
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig || p != der.data() + der.size()) {
    return Error(ErrorCode::kCryptoBadSignature, "not a DER ECDSA signature");
  }
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  if (static_cast<size_t>(BN_num_bytes(r)) > coordinate_size ||
      static_cast<size_t>(BN_num_bytes(s)) > coordinate_size) {
    return Error(ErrorCode::kCryptoBadSignature, "ECDSA r or s too large");
  }
  return std::make_pair(BnToFixed(r, coordinate_size), BnToFixed(s, coordinate_size));
}

Result<Bytes> EcdsaRsToDer(ByteView r, ByteView s) {
  EcdsaSigPtr sig(ECDSA_SIG_new());
  BIGNUM* rb = BN_bin2bn(r.data(), static_cast<int>(r.size()), nullptr);
  BIGNUM* sb = BN_bin2bn(s.data(), static_cast<int>(s.size()), nullptr);
  if (!sig || !rb || !sb || ECDSA_SIG_set0(sig.get(), rb, sb) != 1) {
    BN_free(rb);
    BN_free(sb);
    return CryptoError(ErrorCode::kCryptoFailure, "cannot build ECDSA signature");
  }
  unsigned char* buf = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &buf);
  if (len <= 0) return CryptoError(ErrorCode::kCryptoFailure, "cannot encode ECDSA signature");
  Bytes out(buf, buf + len);
  OPENSSL_free(buf);
  return out;
}

}  // namespace henbtrust

namespace henbtrust {

Result<Bytes> PublicKey::RsaOaepEncrypt(HashAlg hash, ByteView label, ByteView plaintext) const {
  if (impl_->type != KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an RSA key");
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->pkey.get(), nullptr));
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), ossl::Md(hash)) != 1) {
    return ossl::CryptoError(ErrorCode::kCryptoFailure, "cannot initialise OAEP");
  }
  if (!label.empty()) {
    void* copy = OPENSSL_memdup(label.data(), label.size());
    if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), copy, static_cast<int>(label.size())) != 1) {
      OPENSSL_free(copy);
      return ossl::CryptoError(ErrorCode::kCryptoFailure, "cannot set OAEP label");
    }
  }
  size_t len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, plaintext.data(), plaintext.size()) != 1) {
    return ossl::CryptoError(ErrorCode::kCryptoFailure, "OAEP encryption failed");
  }
  Bytes out(len);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, plaintext.data(), plaintext.size()) != 1) {
    return ossl::CryptoError(ErrorCode::kCryptoFailure, "OAEP encryption failed");
  }
  out.resize(len);
  return out;
}

Result<Bytes> PrivateKey::EcdhSharedX(const PublicKey& peer) const {
  if (impl_->type == KeyType::kRsa || peer.type() != impl_->type) {
    return Error(ErrorCode::kInvalidArgument, "ECDH needs two keys on one curve");
  }
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->pkey.get(), nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), ossl::Native(peer)) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) {
    return ossl::CryptoError(ErrorCode::kCryptoFailure, "ECDH failed");
  }
  Bytes out(len);
  if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1) {
    return ossl::CryptoError(ErrorCode::kCryptoFailure, "ECDH failed");
  }
  out.resize(len);
  return out;
}

Result<Bytes> AesCfb(ByteView key, ByteView iv, ByteView data, bool encrypt) {
  const EVP_CIPHER* cipher = key.size() == 16   ? EVP_aes_128_cfb128()
                             : key.size() == 32 ? EVP_aes_256_cfb128()
                                                : nullptr;
  if (cipher == nullptr || iv.size() != 16)
    return Error(ErrorCode::kInvalidArgument, "AES-CFB key or IV size");
  using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, ossl::Deleter<EVP_CIPHER_CTX_free>>;
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  Bytes out(data.size() + 16);
  int len = 0, tail = 0;
  if (!ctx ||
      EVP_CipherInit_ex(ctx.get(), cipher, nullptr, key.data(), iv.data(), encrypt ? 1 : 0) != 1 ||
      EVP_CipherUpdate(ctx.get(), out.data(), &len, data.data(), static_cast<int>(data.size())) !=
          1 ||
      EVP_CipherFinal_ex(ctx.get(), out.data() + len, &tail) != 1) {
    return ossl::CryptoError(ErrorCode::kCryptoFailure, "AES-CFB failed");
  }
  out.resize(static_cast<size_t>(len + tail));
  return out;
}

}  // namespace henbtrust
