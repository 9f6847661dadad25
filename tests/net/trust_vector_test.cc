// The AR4SI vector: tiers cover every int8 value as draft-ietf-rats-ar4si-09
// section 2.3.3 divides them, claim names round-trip, and a claim only ever
// moves to a worse tier.
#include "henbtrust/net/trust_vector.h"

#include <gtest/gtest.h>

namespace henbtrust {
namespace {

TEST(TrustVector, EveryValueHasTheTierOfItsRange) {
  int counts[4] = {};
  for (int v = -128; v <= 127; ++v) {
    const TrustTier tier = TierOf(static_cast<int8_t>(v));
    ++counts[static_cast<int>(tier)];
    const bool none = v >= -1 && v <= 1;
    const bool affirming = (v >= 2 && v <= 31) || (v >= -32 && v <= -2);
    const bool warning = (v >= 32 && v <= 95) || (v >= -96 && v <= -33);
    EXPECT_EQ(tier == TrustTier::kNone, none) << v;
    EXPECT_EQ(tier == TrustTier::kAffirming, affirming) << v;
    EXPECT_EQ(tier == TrustTier::kWarning, warning) << v;
    EXPECT_EQ(tier == TrustTier::kContraindicated, !none && !affirming && !warning) << v;
  }
  EXPECT_EQ(counts[0], 3);
  EXPECT_EQ(counts[1], 30 + 31);
  EXPECT_EQ(counts[2], 64 + 64);
  EXPECT_EQ(counts[3], 32 + 32);
  EXPECT_EQ(TierOf(ar4si::kUnsafeRuntime), TrustTier::kWarning);
  EXPECT_EQ(TierOf(ar4si::kUnrecognizedRuntime), TrustTier::kWarning);
  EXPECT_EQ(TierOf(ar4si::kCryptoValidationFailed), TrustTier::kContraindicated);
  EXPECT_EQ(TierOf(ar4si::kUnrecognizedHardware), TrustTier::kContraindicated);
}

TEST(TrustVector, ClaimNamesRoundTrip) {
  for (size_t i = 0; i < kTrustClaimCount; ++i) {
    const auto claim = static_cast<TrustClaim>(i);
    EXPECT_EQ(ParseTrustClaim(TrustClaimName(claim)), claim);
  }
  EXPECT_EQ(TrustClaimName(TrustClaim::kInstanceIdentity), "instance-identity");
  EXPECT_EQ(TrustClaimName(TrustClaim::kSourcedData), "sourced-data");
  EXPECT_FALSE(ParseTrustClaim("executable").has_value());
  EXPECT_FALSE(ParseTrustClaim("").has_value());
}

TEST(TrustVector, AClaimOnlyMovesToAWorseTier) {
  TrustVector v;
  EXPECT_EQ(v.WorstTier(), TrustTier::kNone);
  v.Worsen(TrustClaim::kExecutables, ar4si::kApprovedRuntime);
  EXPECT_EQ(v.Get(TrustClaim::kExecutables), ar4si::kApprovedRuntime);
  EXPECT_EQ(v.WorstTier(), TrustTier::kAffirming);
  v.Worsen(TrustClaim::kExecutables, ar4si::kUnrecognizedRuntime);
  v.Worsen(TrustClaim::kExecutables, ar4si::kApprovedBoot);  // better: ignored
  EXPECT_EQ(v.Get(TrustClaim::kExecutables), ar4si::kUnrecognizedRuntime);
  EXPECT_EQ(v.WorstTier(), TrustTier::kWarning);
  v.Worsen(TrustClaim::kHardware, ar4si::kUnrecognizedHardware);
  EXPECT_EQ(v.WorstTier(), TrustTier::kContraindicated);
  EXPECT_EQ(v.Get(TrustClaim::kConfiguration), ar4si::kNoClaim);
  TrustVector w = v;
  EXPECT_EQ(w, v);
  w.Set(TrustClaim::kHardware, ar4si::kGenuineHardware);  // Set overrides
  EXPECT_NE(w, v);
  EXPECT_EQ(w.WorstTier(), TrustTier::kWarning);
}

TEST(TrustVector, JsonRoundTripsAndRefusesWhatIsNotAClaim) {
  TrustVector v;
  v.Set(TrustClaim::kInstanceIdentity, ar4si::kTrustworthyInstance);
  v.Set(TrustClaim::kExecutables, ar4si::kUnsafeRuntime);
  v.Set(TrustClaim::kSourcedData, -128);
  std::string text;
  AppendTrustVectorJson(v, text);
  EXPECT_EQ(text, R"({"instance-identity":2,"executables":32,"sourced-data":-128})");
  std::string by_name;
  AppendTrustVectorJson(v, by_name, ClaimOrder::kNames);
  EXPECT_EQ(by_name, nlohmann::json::parse(text).dump());  // nlohmann sorts names
  EXPECT_EQ(TrustVectorToJson(v).dump(), by_name);
  auto back = TrustVectorFromJson(nlohmann::json::parse(text));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, v);
  EXPECT_EQ(*TrustVectorFromJson(nlohmann::json::object()), TrustVector());

  for (const char* bad :
       {R"({"executables":128})", R"({"executables":-129})", R"({"executables":2.5})",
        R"({"executables":"2"})", R"({"executables":null})", R"({"executable":2})", R"([])", R"(2)",
        R"({"executables":18446744073709551615})"}) {
    auto r = TrustVectorFromJson(nlohmann::json::parse(bad));
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), ErrorCode::kNetBadRequest) << bad;
    }
  }
}

TEST(TrustVector, ADescriptionNamesTheClaimsThatAreNotAffirmingWorstFirst) {
  TrustVector v;
  v.Set(TrustClaim::kInstanceIdentity, ar4si::kTrustworthyInstance);
  EXPECT_EQ(DescribeTrustVector(v), "");
  v.Set(TrustClaim::kExecutables, ar4si::kUnsafeRuntime);
  v.Set(TrustClaim::kConfiguration, ar4si::kUnsupportableConfig);
  EXPECT_EQ(DescribeTrustVector(v),
            "configuration 96 (unsupportable configuration), executables 32 (genuine executables "
            "with known vulnerabilities)");
  EXPECT_EQ(DescribeTrustVector(v, TrustTier::kAffirming).rfind("configuration 96", 0), 0u);
  EXPECT_NE(DescribeTrustVector(v, TrustTier::kAffirming)
                .find("instance-identity 2 (recognised and trusted instance)"),
            std::string::npos);
  // A value the project does not set reads as its tier.
  EXPECT_EQ(ClaimValueMeaning(TrustClaim::kRuntimeOpaque, 40), "warning");
  EXPECT_EQ(ClaimValueMeaning(TrustClaim::kHardware, ar4si::kCryptoValidationFailed),
            "evidence failed cryptographic validation");
}

}  // namespace
}  // namespace henbtrust
