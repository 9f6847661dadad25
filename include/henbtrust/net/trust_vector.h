// The AR4SI trustworthiness vector (draft-ietf-rats-ar4si-09, section 2.3):
// eight claims about an attester, each a signed 8-bit value whose range
// gives its tier. An appraisal sets the claims its checks speak to; the
// result's status is never more trusting than the worst tier among them.
//
// It lives in `net` because it is part of what the services say to each
// other: the PVE writes it into every result, the OAM and the SeGW read it.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "henbtrust/core/result.h"

namespace henbtrust {

// The tiers of a claim and of a result, from best to worst. kNone: the
// claim says nothing (0), the evidence held what the verifier cannot
// evaluate (1), or the verifier failed (-1).
enum class TrustTier : uint8_t { kNone, kAffirming, kWarning, kContraindicated };
std::string_view TrustTierName(TrustTier tier);
// The tier of a claim's value: [-1, 1] none, [2, 31] and [-32, -2]
// affirming, [32, 95] and [-96, -33] warning, [96, 127] and [-128, -97]
// contraindicated.
TrustTier TierOf(int8_t value);

// The claims, in the order of their CBOR keys (0 to 7).
enum class TrustClaim : uint8_t {
  kInstanceIdentity,
  kConfiguration,
  kExecutables,
  kFileSystem,
  kHardware,
  kRuntimeOpaque,
  kStorageOpaque,
  kSourcedData,
};
inline constexpr size_t kTrustClaimCount = 8;
// "instance-identity", "configuration", ...: the claim's JSON key.
std::string_view TrustClaimName(TrustClaim claim);
std::optional<TrustClaim> ParseTrustClaim(std::string_view name);

// The standard values this project sets (the draft defines a few more).
namespace ar4si {
inline constexpr int8_t kNoClaim = 0;
inline constexpr int8_t kUnexpectedEvidence = 1;
inline constexpr int8_t kVerifierMalfunction = -1;
inline constexpr int8_t kCryptoValidationFailed = 99;  // every claim
// instance-identity
inline constexpr int8_t kTrustworthyInstance = 2;
inline constexpr int8_t kUntrustworthyInstance = 96;
inline constexpr int8_t kUnrecognizedInstance = 97;
// configuration
inline constexpr int8_t kApprovedConfig = 2;
inline constexpr int8_t kVulnerableConfig = 32;
inline constexpr int8_t kUnsupportableConfig = 96;
// executables
inline constexpr int8_t kApprovedRuntime = 2;
inline constexpr int8_t kApprovedBoot = 3;
inline constexpr int8_t kUnsafeRuntime = 32;        // genuine, with known vulnerabilities
inline constexpr int8_t kUnrecognizedRuntime = 33;  // something not in the reference was loaded
inline constexpr int8_t kContraindicatedRuntime = 96;
// file-system
inline constexpr int8_t kApprovedFiles = 2;
inline constexpr int8_t kUnrecognizedFiles = 32;
inline constexpr int8_t kContraindicatedFiles = 96;
// hardware
inline constexpr int8_t kGenuineHardware = 2;
inline constexpr int8_t kUnsafeHardware = 32;
inline constexpr int8_t kContraindicatedHardware = 96;
inline constexpr int8_t kUnrecognizedHardware = 97;
}  // namespace ar4si

class TrustVector {
 public:
  // Every claim kNoClaim.
  TrustVector() = default;
  void Set(TrustClaim claim, int8_t value) { values_[Index(claim)] = value; }
  int8_t Get(TrustClaim claim) const { return values_[Index(claim)]; }
  // Sets `value` unless the claim already holds one of a worse tier: the
  // draft's rule that a claim takes the value of the worst tier that applies.
  void Worsen(TrustClaim claim, int8_t value);
  // The worst tier of any claim (kNone when no claim is set).
  TrustTier WorstTier() const;
  bool operator==(const TrustVector&) const = default;

 private:
  static size_t Index(TrustClaim claim) { return static_cast<size_t>(claim); }
  std::array<int8_t, kTrustClaimCount> values_ = {};
};

// What a value of a claim means, in a few words, for the values this
// project sets ("genuine executables with known vulnerabilities"); the
// tier's name for any other.
std::string_view ClaimValueMeaning(TrustClaim claim, int8_t value);

// Appends the vector as a JSON object, EAR's ear.trustworthiness-vector: a
// member per claim whose value is not 0, in claim order, or in the order of
// their names (as nlohmann writes an object, for answers that must read as
// nlohmann writes them).
enum class ClaimOrder : uint8_t { kClaims, kNames };
void AppendTrustVectorJson(const TrustVector& vector, std::string& out,
                           ClaimOrder order = ClaimOrder::kClaims);
nlohmann::json TrustVectorToJson(const TrustVector& vector);  // the same as a document
// Reads such an object from a peer: every member a claim name with an
// integer in [-128, 127]; anything else is kNetBadRequest naming it.
Result<TrustVector> TrustVectorFromJson(const nlohmann::json& object);
// The claims of tier `at_least` or worse, worst tier first, for a reason
// line: "configuration 96 (unsupportable configuration), executables 32
// (genuine executables with known vulnerabilities)"; "" when there is none.
std::string DescribeTrustVector(const TrustVector& vector,
                                TrustTier at_least = TrustTier::kWarning);

}  // namespace henbtrust
