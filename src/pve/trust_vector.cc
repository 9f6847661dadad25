#include "henbtrust/pve/trust_vector.h"

namespace henbtrust {

namespace {

constexpr std::array<std::string_view, kTrustClaimCount> kClaimNames = {
    "instance-identity", "configuration",  "executables",    "file-system",
    "hardware",          "runtime-opaque", "storage-opaque", "sourced-data",
};

}  // namespace

std::string_view TrustTierName(TrustTier tier) {
  switch (tier) {
    case TrustTier::kNone:
      return "none";
    case TrustTier::kAffirming:
      return "affirming";
    case TrustTier::kWarning:
      return "warning";
    case TrustTier::kContraindicated:
      return "contraindicated";
  }
  return "contraindicated";
}

TrustTier TierOf(int8_t value) {
  if (value >= -1 && value <= 1) return TrustTier::kNone;
  if ((value >= 2 && value <= 31) || (value >= -32 && value <= -2)) return TrustTier::kAffirming;
  if ((value >= 32 && value <= 95) || (value >= -96 && value <= -33)) return TrustTier::kWarning;
  return TrustTier::kContraindicated;
}

std::string_view TrustClaimName(TrustClaim claim) {
  return kClaimNames[static_cast<size_t>(claim)];
}

std::optional<TrustClaim> ParseTrustClaim(std::string_view name) {
  for (size_t i = 0; i < kClaimNames.size(); ++i) {
    if (kClaimNames[i] == name) return static_cast<TrustClaim>(i);
  }
  return std::nullopt;
}

void TrustVector::Worsen(TrustClaim claim, int8_t value) {
  int8_t& held = values_[Index(claim)];
  if (TierOf(value) >= TierOf(held)) held = value;
}

TrustTier TrustVector::WorstTier() const {
  TrustTier worst = TrustTier::kNone;
  for (int8_t v : values_) {
    const TrustTier t = TierOf(v);
    if (t > worst) worst = t;
  }
  return worst;
}

}  // namespace henbtrust
