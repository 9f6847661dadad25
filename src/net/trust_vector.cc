#include "henbtrust/net/trust_vector.h"

#include <algorithm>
#include <vector>

#include "henbtrust/core/json_text.h"

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

std::string_view ClaimValueMeaning(TrustClaim claim, int8_t value) {
  using namespace ar4si;
  switch (value) {
    case kNoClaim:
      return "no claim";
    case kUnexpectedEvidence:
      return "evidence the verifier cannot evaluate";
    case kVerifierMalfunction:
      return "verifier malfunction";
    case kCryptoValidationFailed:
      return "evidence failed cryptographic validation";
    default:
      break;
  }
  switch (claim) {
    case TrustClaim::kInstanceIdentity:
      if (value == kTrustworthyInstance) return "recognised and trusted instance";
      if (value == kUntrustworthyInstance) return "recognised but untrustworthy instance";
      if (value == kUnrecognizedInstance) return "unrecognised instance";
      break;
    case TrustClaim::kConfiguration:
      if (value == kApprovedConfig) return "approved configuration";
      if (value == kVulnerableConfig) return "configuration with known vulnerabilities";
      if (value == kUnsupportableConfig) return "unsupportable configuration";
      break;
    case TrustClaim::kExecutables:
      if (value == kApprovedRuntime) return "approved executables, at boot and after";
      if (value == kApprovedBoot) return "approved executables at boot";
      if (value == kUnsafeRuntime) return "genuine executables with known vulnerabilities";
      if (value == kUnrecognizedRuntime) return "unrecognised executables";
      if (value == kContraindicatedRuntime) return "contraindicated executables";
      break;
    case TrustClaim::kFileSystem:
      if (value == kApprovedFiles) return "approved files";
      if (value == kUnrecognizedFiles) return "unrecognised files";
      if (value == kContraindicatedFiles) return "contraindicated files";
      break;
    case TrustClaim::kHardware:
      if (value == kGenuineHardware) return "genuine hardware";
      if (value == kUnsafeHardware) return "hardware with known vulnerabilities";
      if (value == kContraindicatedHardware) return "contraindicated hardware";
      if (value == kUnrecognizedHardware) return "unrecognised hardware";
      break;
    default:
      break;
  }
  return TrustTierName(TierOf(value));
}

void AppendTrustVectorJson(const TrustVector& vector, std::string& out, ClaimOrder order) {
  std::array<TrustClaim, kTrustClaimCount> claims = {};
  for (size_t i = 0; i < kTrustClaimCount; ++i) claims[i] = static_cast<TrustClaim>(i);
  if (order == ClaimOrder::kNames) {
    std::sort(claims.begin(), claims.end(),
              [](TrustClaim a, TrustClaim b) { return TrustClaimName(a) < TrustClaimName(b); });
  }
  JsonObjectWriter object(out);
  for (const TrustClaim claim : claims) {
    if (const int8_t value = vector.Get(claim); value != ar4si::kNoClaim) {
      object.Int(TrustClaimName(claim), value);
    }
  }
  object.Close();
}

nlohmann::json TrustVectorToJson(const TrustVector& vector) {
  nlohmann::json object = nlohmann::json::object();
  for (size_t i = 0; i < kTrustClaimCount; ++i) {
    const auto claim = static_cast<TrustClaim>(i);
    if (const int8_t value = vector.Get(claim); value != ar4si::kNoClaim) {
      object[std::string(TrustClaimName(claim))] = static_cast<int>(value);
    }
  }
  return object;
}

Result<TrustVector> TrustVectorFromJson(const nlohmann::json& object) {
  if (!object.is_object()) {
    return Error(ErrorCode::kNetBadRequest, "the trustworthiness vector is not an object");
  }
  TrustVector vector;
  for (const auto& [name, value] : object.items()) {
    const auto claim = ParseTrustClaim(name);
    if (!claim) {
      return Error(ErrorCode::kNetBadRequest,
                   "the trustworthiness vector names no claim '" + name.substr(0, 32) + "'");
    }
    // nlohmann counts an unsigned number as an integer too: read it as unsigned.
    const bool in_range = value.is_number_unsigned()
                              ? value.get<uint64_t>() <= 127
                              : value.is_number_integer() && value.get<int64_t>() >= -128 &&
                                    value.get<int64_t>() <= 127;
    if (!in_range) {
      return Error(ErrorCode::kNetBadRequest,
                   "the trustworthiness vector's '" + name + "' is not an integer in [-128, 127]");
    }
    vector.Set(*claim, static_cast<int8_t>(value.get<int64_t>()));
  }
  return vector;
}

std::string DescribeTrustVector(const TrustVector& vector, TrustTier at_least) {
  std::vector<TrustClaim> claims;
  for (size_t i = 0; i < kTrustClaimCount; ++i) {
    const auto claim = static_cast<TrustClaim>(i);
    if (TierOf(vector.Get(claim)) >= at_least && vector.Get(claim) != ar4si::kNoClaim) {
      claims.push_back(claim);
    }
  }
  std::stable_sort(claims.begin(), claims.end(), [&](TrustClaim a, TrustClaim b) {
    return TierOf(vector.Get(a)) > TierOf(vector.Get(b));
  });
  std::string out;
  for (const TrustClaim claim : claims) {
    if (!out.empty()) out += ", ";
    const int8_t value = vector.Get(claim);
    out += std::string(TrustClaimName(claim)) + ' ' + std::to_string(value) + " (" +
           std::string(ClaimValueMeaning(claim, value)) + ')';
  }
  return out;
}

}  // namespace henbtrust
