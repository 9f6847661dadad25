#include "crypto/ossl.h"

#include <openssl/err.h>

namespace henbtrust::ossl {

std::string LastError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "no details from OpenSSL";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Error CryptoError(ErrorCode code, const std::string& what) {
  return Error(code, what + " (" + LastError() + ")");
}

Bytes BnToFixed(const BIGNUM* bn, size_t size) {
  Bytes out(size);
  BN_bn2binpad(bn, out.data(), static_cast<int>(size));
  return out;
}

const EVP_MD* Md(HashAlg alg) {
  static const EVP_MD* const kSha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  static const EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static const EVP_MD* const kSha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  static const EVP_MD* const kSha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  switch (alg) {
    case HashAlg::kSha1:
      return kSha1;
    case HashAlg::kSha256:
      return kSha256;
    case HashAlg::kSha384:
      return kSha384;
    case HashAlg::kSha512:
      return kSha512;
  }
  return kSha256;
}

EVP_PKEY* Native(const PublicKey& key) { return key.impl().pkey.get(); }
EVP_PKEY* Native(const PrivateKey& key) { return key.impl().pkey.get(); }
X509* Native(const Certificate& cert) { return cert.impl().x509.get(); }

}  // namespace henbtrust::ossl
