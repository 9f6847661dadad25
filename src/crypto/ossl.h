// Private: OpenSSL handle ownership and access to the native objects behind
// the public crypto types. Only src/ may include this.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "henbtrust/core/result.h"
#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/crypto/x509.h"

namespace henbtrust::ossl {

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;

// The most recent OpenSSL error queue entry as text, and clears the queue.
std::string LastError();
Error CryptoError(ErrorCode code, const std::string& what);

// `bn` big-endian, left-padded with zeros to `size` bytes.
// REQUIRES: BN_num_bytes(bn) <= size.
Bytes BnToFixed(const BIGNUM* bn, size_t size);

// The fetched (cached, never freed) EVP_MD for `alg`.
const EVP_MD* Md(HashAlg alg);

EVP_PKEY* Native(const PublicKey& key);
EVP_PKEY* Native(const PrivateKey& key);
X509* Native(const Certificate& cert);

}  // namespace henbtrust::ossl

namespace henbtrust {
namespace ossl {
// Contexts of one key already initialised for signing (or verification),
// reused across calls: initialisation costs a tenth of an ECDSA
// verification, and setting the digest again (which fetches it) a twentieth
// of an ECDSA signature.
struct PkeyCtxPool {
  struct Entry {
    PkeyCtxPtr ctx;
    SignatureScheme scheme;  // what ctx is set up for
    HashAlg hash;
  };
  Mutex mu;
  std::vector<Entry> free GUARDED_BY(mu);
};
}  // namespace ossl

struct PublicKey::Impl {
  Impl(ossl::PkeyPtr k, KeyType t) : pkey(std::move(k)), type(t) {}
  ossl::PkeyPtr pkey;
  KeyType type;
  mutable ossl::PkeyCtxPool verify_pool;
};
struct PrivateKey::Impl {
  Impl(ossl::PkeyPtr k, KeyType t) : pkey(std::move(k)), type(t) {}
  ossl::PkeyPtr pkey;
  KeyType type;
  mutable ossl::PkeyCtxPool sign_pool;
  // The public half, made at the first Public() (re-encoding a key costs
  // OpenSSL 3 a decoder lookup; a service asks its keys for it per request).
  mutable std::once_flag public_once;
  mutable std::shared_ptr<const PublicKey::Impl> public_half;
};
struct Certificate::Impl {
  ossl::X509Ptr x509;
};
}  // namespace henbtrust
