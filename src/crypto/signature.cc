#include <openssl/rsa.h>

#include "crypto/ossl.h"
#include "henbtrust/crypto/keys.h"

// Signing and verification with the keys of keys.cc, through contexts each
// key keeps for reuse, and the two encodings of an ECDSA signature.

namespace henbtrust {

namespace {

using ossl::BnToFixed;
using ossl::CryptoError;

using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, ossl::Deleter<ECDSA_SIG_free>>;

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
    MutexLock lock(pool.mu);
    if (!pool.free.empty()) {
      e = std::move(pool.free.back());
      pool.free.pop_back();
    }
  }
  if (e.ctx && e.scheme == scheme && e.hash == hash) return e;
  if (!e.ctx) {
    e.ctx.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    if (!e.ctx ||
        (verify ? EVP_PKEY_verify_init(e.ctx.get()) : EVP_PKEY_sign_init(e.ctx.get())) != 1) {
      return CryptoError(ErrorCode::kCryptoFailure,
                         verify ? "cannot initialise verification" : "cannot initialise signing");
    }
  }
  HENB_TRY(ConfigureScheme(e.ctx.get(), scheme, hash, verify));
  e.scheme = scheme;
  e.hash = hash;
  return e;
}

void PutCtx(ossl::PkeyCtxPool& pool, ossl::PkeyCtxPool::Entry e) {
  constexpr size_t kMaxPooled = 16;
  MutexLock lock(pool.mu);
  if (pool.free.size() < kMaxPooled) pool.free.push_back(std::move(e));
}

}  // namespace

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

Result<Bytes> PrivateKey::SignDigest(SignatureScheme scheme, HashAlg hash, ByteView digest) const {
  HENB_TRY(CheckDigestSize(hash, digest));
  HENB_ASSIGN_OR_RETURN(auto ctx, TakeCtx(impl_->sign_pool, impl_->pkey.get(), impl_->type, scheme,
                                          hash, /*verify=*/false));
  // The largest signature the key makes (what EVP_PKEY_sign reports when
  // asked for the size).
  const int max_size = EVP_PKEY_get_size(impl_->pkey.get());
  if (max_size <= 0) return CryptoError(ErrorCode::kCryptoFailure, "key without a signature size");
  auto len = static_cast<size_t>(max_size);
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
