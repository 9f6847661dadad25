#include "henbtrust/crypto/digest.h"

#include <openssl/crypto.h>

#include <array>
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

// RFC 2104 over the digests fetched once: OpenSSL's one-shot HMAC() fetches
// the MAC and its digest on every call, which costs more than the hashing
// for the short inputs here (nonce tags, KDFs).
Bytes Hmac(HashAlg alg, ByteView key, ByteView data) {
  const size_t block = alg == HashAlg::kSha384 || alg == HashAlg::kSha512 ? 128 : 64;
  std::array<uint8_t, 128> pad{};
  if (key.size() > block) {
    Bytes short_key = Hash(alg, key);
    std::copy(short_key.begin(), short_key.end(), pad.begin());
    OPENSSL_cleanse(short_key.data(), short_key.size());
  } else {
    std::copy(key.begin(), key.end(), pad.begin());
  }
  const ByteView k(pad.data(), block);
  for (uint8_t& b : pad) b ^= 0x36;
  Hasher h(alg);
  h.Update(k);
  h.Update(data);
  const Bytes inner = h.Finish();
  for (uint8_t& b : pad) b ^= 0x36 ^ 0x5c;
  h.Update(k);
  h.Update(inner);
  Bytes out = h.Finish();
  OPENSSL_cleanse(pad.data(), pad.size());
  return out;
}

}  // namespace henbtrust
