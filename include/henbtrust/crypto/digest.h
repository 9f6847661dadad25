// Message digests. Algorithms carry their TPM_ALG_ID values so that TPM
// structures and event logs can name them directly.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "henbtrust/core/bytes.h"

namespace henbtrust {

enum class HashAlg : uint16_t {
  kSha1 = 0x0004,
  kSha256 = 0x000B,
  kSha384 = 0x000C,
  kSha512 = 0x000D,
};

// Size in bytes of a digest of `alg`.
size_t DigestSize(HashAlg alg);
// "sha1", "sha256", ... (the names tpm2-tools uses).
std::string_view HashAlgName(HashAlg alg);
Result<HashAlg> HashAlgFromName(std::string_view name);
// kTpmUnsupported for TPM_ALG_IDs that are not a supported hash.
Result<HashAlg> HashAlgFromTpmId(uint16_t id);

// Streaming hash. Not thread-safe; cheap to create.
class Hasher {
 public:
  explicit Hasher(HashAlg alg);
  ~Hasher();
  Hasher(Hasher&& other) noexcept;
  Hasher& operator=(Hasher&& other) noexcept;

  HashAlg alg() const { return alg_; }
  void Update(ByteView data);
  // Returns the digest and resets the hasher for a new message.
  Bytes Finish();
  // Writes the digest to `out`, which must hold DigestSize(alg()) bytes.
  void FinishInto(uint8_t* out);

 private:
  struct Impl;
  HashAlg alg_;
  std::unique_ptr<Impl> impl_;
};

Bytes Hash(HashAlg alg, ByteView data);
inline Bytes Sha256(ByteView data) { return Hash(HashAlg::kSha256, data); }

// HMAC over `data` with `key`.
Bytes Hmac(HashAlg alg, ByteView key, ByteView data);

}  // namespace henbtrust
