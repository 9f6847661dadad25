// The attestation results this PVE has signed or checked, remembered by the
// SHA-256 of their token, so that reading one back from the store costs no
// second signature check (results.cc, access_decision.cc).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_set>

#include "henbtrust/core/result.h"
#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/crypto/keys.h"
#include "henbtrust/pve/ear.h"

namespace henbtrust {

// A token's digest binds its header, claims and signature: a token read
// back byte for byte as this PVE signed or checked it is authentic, and one
// changed behind the PVE's back (in the store, say) is not known and gets
// its signature checked. The oldest are forgotten first, so that memory
// stays bounded whatever the fleet; forgetting costs a check, never a
// wrong answer. Thread-safe.
class KnownResults {
 public:
  // About 100 bytes each (digest, hash node, queue slot).
  static constexpr size_t kDefaultCapacity = size_t{1} << 18;

  explicit KnownResults(PublicKey verifier_key, size_t capacity = kDefaultCapacity);

  // A token this PVE has just signed.
  void Remember(std::string_view token) EXCLUDES(mu_);
  // The token's claims: its signature is checked under the verifier key
  // unless the token is known (VerifyEar's errors).
  Result<EarClaims> Claims(std::string_view token) EXCLUDES(mu_);
  // Tokens whose claims were read without a second check, so far.
  uint64_t hits() const EXCLUDES(mu_);

 private:
  using Digest = std::array<uint8_t, 32>;
  struct DigestHash {
    size_t operator()(const Digest& d) const noexcept {
      size_t h = 0;
      std::memcpy(&h, d.data(), sizeof h);  // a SHA-256: its bytes are uniform
      return h;
    }
  };
  static Digest DigestOf(std::string_view token);
  bool Known(const Digest& digest) const EXCLUDES(mu_);
  void Insert(const Digest& digest) EXCLUDES(mu_);

  const PublicKey key_;
  const size_t capacity_;
  mutable Mutex mu_;
  std::unordered_set<Digest, DigestHash> known_ GUARDED_BY(mu_);
  std::deque<Digest> order_ GUARDED_BY(mu_);  // oldest first
  uint64_t hits_ GUARDED_BY(mu_) = 0;
};

}  // namespace henbtrust
