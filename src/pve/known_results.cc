#include "pve/known_results.h"

#include <cstring>
#include <utility>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/jws.h"

namespace henbtrust {

KnownResults::Digest KnownResults::DigestOf(std::string_view token) {
  Digest d{};
  const Bytes h = Sha256(AsBytes(token));
  std::memcpy(d.data(), h.data(), d.size());
  return d;
}

KnownResults::KnownResults(PublicKey verifier_key, size_t capacity)
    : key_(std::move(verifier_key)), capacity_(capacity) {}

void KnownResults::Remember(std::string_view token) { Insert(DigestOf(token)); }

void KnownResults::Insert(const Digest& digest) {
  if (capacity_ == 0) return;
  const MutexLock lock(mu_);
  if (!known_.insert(digest).second) return;
  order_.push_back(digest);
  while (order_.size() > capacity_) {
    known_.erase(order_.front());
    order_.pop_front();
  }
}

bool KnownResults::Known(const Digest& digest) const {
  const MutexLock lock(mu_);
  return known_.contains(digest);
}

Result<EarClaims> KnownResults::Claims(std::string_view token) {
  const Digest digest = DigestOf(token);
  if (Known(digest)) {
    HENB_ASSIGN_OR_RETURN(std::string payload, VerifiedJwsPayload(token));
    {
      const MutexLock lock(mu_);
      ++hits_;
    }
    return DecodeEarClaims(payload);
  }
  HENB_ASSIGN_OR_RETURN(EarClaims claims, VerifyEar(token, key_));
  Insert(digest);
  return claims;
}

uint64_t KnownResults::hits() const {
  const MutexLock lock(mu_);
  return hits_;
}

}  // namespace henbtrust
