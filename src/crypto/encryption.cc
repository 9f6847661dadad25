#include <openssl/rsa.h>

#include "crypto/ossl.h"
#include "henbtrust/crypto/keys.h"

// Encryption and key agreement: RSA-OAEP, ECDH and AES-CFB, the primitives
// of TPM2_MakeCredential and credential activation.

namespace henbtrust {

namespace {

// RSA-OAEP with `hash` (for MGF1 too) and `label`, one way or the other:
// EVP_PKEY_encrypt and EVP_PKEY_decrypt take the same arguments.
using OaepInit = int (*)(EVP_PKEY_CTX*);
using OaepRun = int (*)(EVP_PKEY_CTX*, unsigned char*, size_t*, const unsigned char*, size_t);

Result<Bytes> RsaOaep(EVP_PKEY* key, OaepInit init, OaepRun run, HashAlg hash, ByteView label,
                      ByteView in, ErrorCode failed, const char* what) {
  ossl::PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (!ctx || init(ctx.get()) != 1 ||
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
  if (run(ctx.get(), nullptr, &len, in.data(), in.size()) != 1) {
    return ossl::CryptoError(ErrorCode::kCryptoFailure, what);
  }
  Bytes out(len);
  if (run(ctx.get(), out.data(), &len, in.data(), in.size()) != 1) {
    return ossl::CryptoError(failed, what);
  }
  out.resize(len);
  return out;
}

}  // namespace

Result<Bytes> PrivateKey::RsaOaepDecrypt(HashAlg hash, ByteView label, ByteView ciphertext) const {
  if (impl_->type != KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an RSA key");
  // A ciphertext that does not open is the sender's fault, not the library's.
  return RsaOaep(impl_->pkey.get(), EVP_PKEY_decrypt_init, EVP_PKEY_decrypt, hash, label,
                 ciphertext, ErrorCode::kCryptoBadSignature, "OAEP decryption failed");
}

Result<Bytes> PublicKey::RsaOaepEncrypt(HashAlg hash, ByteView label, ByteView plaintext) const {
  if (impl_->type != KeyType::kRsa) return Error(ErrorCode::kInvalidArgument, "not an RSA key");
  return RsaOaep(impl_->pkey.get(), EVP_PKEY_encrypt_init, EVP_PKEY_encrypt, hash, label, plaintext,
                 ErrorCode::kCryptoFailure, "OAEP encryption failed");
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
  int len = 0;
  int tail = 0;
  if (!ctx ||
      EVP_CipherInit_ex(ctx.get(), cipher, nullptr, key.data(), iv.data(), encrypt ? 1 : 0) != 1 ||
      EVP_CipherUpdate(ctx.get(), out.data(), &len, data.data(), static_cast<int>(data.size())) !=
          1 ||
      EVP_CipherFinal_ex(ctx.get(), out.data() + len, &tail) != 1) {
    return ossl::CryptoError(ErrorCode::kCryptoFailure, "AES-CFB failed");
  }
  out.resize(static_cast<size_t>(len) + static_cast<size_t>(tail));
  return out;
}

}  // namespace henbtrust
