#include "pve/known_results.h"

#include <utility>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/digest.h"
#include "henbtrust/crypto/jws.h"

namespace henbtrust {

namespace {

std::string DigestOf(std::string_view token) { return ToString(Sha256(AsBytes(token))); }

}  // namespace

KnownResults::KnownResults(PublicKey verifier_key, size_t capacity)
    : key_(std::move(verifier_key)), capacity_(capacity) {}

void KnownResults::Remember(std::string_view token) { Insert(DigestOf(token)); }

void KnownResults::Insert(std::string digest) {
  if (capacity_ == 0) return;
  const MutexLock lock(mu_);
  if (!known_.insert(digest).second) return;
  order_.push_back(std::move(digest));
  while (order_.size() > capacity_) {
    known_.erase(order_.front());
    order_.pop_front();
  }
}

bool KnownResults::Known(const std::string& digest) const {
  const MutexLock lock(mu_);
  return known_.contains(digest);
}

Result<EarClaims> KnownResults::Claims(std::string_view token) {
  std::string digest = DigestOf(token);
  if (Known(digest)) {
    HENB_ASSIGN_OR_RETURN(std::string payload, VerifiedJwsPayload(token));
    {
      const MutexLock lock(mu_);
      ++hits_;
    }
    return DecodeEarClaims(payload);
  }
  HENB_ASSIGN_OR_RETURN(EarClaims claims, VerifyEar(token, key_));
  Insert(std::move(digest));
  return claims;
}

uint64_t KnownResults::hits() const {
  const MutexLock lock(mu_);
  return hits_;
}

}  // namespace henbtrust
