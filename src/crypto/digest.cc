#include "henbtrust/crypto/digest.h"

#include <openssl/hmac.h>

#include <cstdlib>

#include "crypto/ossl.h"

namespace henbtrust {

size_t DigestSize(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1:
      return 20;
    case HashAlg::kSha256:
      return 32;
    case HashAlg::kSha384:
      return 48;
    case HashAlg::kSha512:
      return 64;
  }
  return 0;
}

std::string_view HashAlgName(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1:
      return "sha1";
    case HashAlg::kSha256:
      return "sha256";
    case HashAlg::kSha384:
      return "sha384";
    case HashAlg::kSha512:
      return "sha512";
  }
  return "unknown";
}

Result<HashAlg> HashAlgFromName(std::string_view name) {
  for (HashAlg a : {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha384, HashAlg::kSha512}) {
    if (HashAlgName(a) == name) return a;
  }
  return Error(ErrorCode::kInvalidArgument, "unknown hash algorithm '" + std::string(name) + "'");
}

Result<HashAlg> HashAlgFromTpmId(uint16_t id) {
  switch (id) {
    case 0x0004:
      return HashAlg::kSha1;
    case 0x000B:
      return HashAlg::kSha256;
    case 0x000C:
      return HashAlg::kSha384;
    case 0x000D:
      return HashAlg::kSha512;
    default:
      break;
  }
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", id);
  return Error(ErrorCode::kTpmUnsupported, std::string("unsupported hash algorithm id ") + buf);
}

struct Hasher::Impl {
  ossl::MdCtxPtr ctx{EVP_MD_CTX_new()};
};

Hasher::Hasher(HashAlg alg) : alg_(alg), impl_(std::make_unique<Impl>()) {
  if (!impl_->ctx || EVP_DigestInit_ex2(impl_->ctx.get(), ossl::Md(alg), nullptr) != 1) {
    std::abort();  // allocation failure: nothing sensible to return
  }
}
Hasher::~Hasher() = default;
Hasher::Hasher(Hasher&&) noexcept = default;
Hasher& Hasher::operator=(Hasher&&) noexcept = default;

void Hasher::Update(ByteView data) { EVP_DigestUpdate(impl_->ctx.get(), data.data(), data.size()); }

void Hasher::FinishInto(uint8_t* out) {
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx.get(), out, &len);
  EVP_DigestInit_ex2(impl_->ctx.get(), nullptr, nullptr);
}

Bytes Hasher::Finish() {
  Bytes out(DigestSize(alg_));
  FinishInto(out.data());
  return out;
}

Bytes Hash(HashAlg alg, ByteView data) {
  Bytes out(DigestSize(alg));
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, ossl::Md(alg), nullptr);
  return out;
}

Bytes Hmac(HashAlg alg, ByteView key, ByteView data) {
  Bytes out(DigestSize(alg));
  unsigned int len = 0;
  HMAC(ossl::Md(alg), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
       out.data(), &len);
  return out;
}

}  // namespace henbtrust
