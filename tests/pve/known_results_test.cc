// The PVE's memory of the results it signed: a token read back exactly as
// signed skips the second signature check; anything else is checked.
#include "pve/known_results.h"

#include <gtest/gtest.h>

#include "henbtrust/core/bytes.h"
#include "henbtrust/crypto/jws.h"

namespace henbtrust {
namespace {

class KnownResultsTest : public ::testing::Test {
 protected:
  std::string Token(const std::string& device, ArStatus status, const PrivateKey& key) {
    AppraisalResult r;
    r.device_id = device;
    r.status = status;
    r.issued_at = 1'800'000'000;
    r.vector.Set(TrustClaim::kExecutables, status == ArStatus::kAffirming
                                               ? ar4si::kApprovedBoot
                                               : ar4si::kUnrecognizedRuntime);
    auto token = EncodeEar(r, key, "pve-1");
    EXPECT_TRUE(token.ok());
    return token.ok() ? *token : "";
  }

  PrivateKey key_ = PrivateKey::Generate(KeyType::kEcP256).value();
};

TEST_F(KnownResultsTest, ATokenItSignedIsReadWithoutASecondCheck) {
  KnownResults known(key_.Public());
  const std::string token = Token("henb-1", ArStatus::kAffirming, key_);
  known.Remember(token);
  auto claims = known.Claims(token);
  ASSERT_TRUE(claims.ok()) << claims.error().ToString();
  EXPECT_EQ(claims->device_id, "henb-1");
  EXPECT_EQ(claims->status, ArStatus::kAffirming);
  EXPECT_EQ(known.hits(), 1U);
  // As VerifyEar reads it.
  auto checked = VerifyEar(token, key_.Public());
  ASSERT_TRUE(checked.ok());
  EXPECT_EQ(checked->vector, claims->vector);
  EXPECT_EQ(checked->issued_at, claims->issued_at);
}

TEST_F(KnownResultsTest, ATokenNotKnownIsCheckedThenKnown) {
  KnownResults known(key_.Public());
  const std::string token = Token("henb-1", ArStatus::kContraindicated, key_);
  ASSERT_TRUE(known.Claims(token).ok());
  EXPECT_EQ(known.hits(), 0U);
  ASSERT_TRUE(known.Claims(token).ok());
  EXPECT_EQ(known.hits(), 1U);
  // Another key's token is refused, and stays unknown.
  auto other = PrivateKey::Generate(KeyType::kEcP256);
  const std::string foreign = Token("henb-1", ArStatus::kAffirming, *other);
  for (int i = 0; i < 2; ++i) {
    auto refused = known.Claims(foreign);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code(), ErrorCode::kCryptoBadSignature);
  }
  EXPECT_EQ(known.hits(), 1U);
}

// A known token with its claims swapped for a better verdict (the signature
// kept) is a different token: checked, and refused.
TEST_F(KnownResultsTest, AKnownTokenChangedInItsClaimsIsRefused) {
  KnownResults known(key_.Public());
  const std::string bad = Token("henb-1", ArStatus::kContraindicated, key_);
  const std::string good = Token("henb-1", ArStatus::kAffirming, key_);
  known.Remember(bad);
  known.Remember(good);
  const size_t d1 = bad.find('.');
  const size_t d2 = bad.rfind('.');
  const size_t g1 = good.find('.');
  const size_t g2 = good.rfind('.');
  // Good claims under the bad token's signature.
  const std::string spliced = bad.substr(0, d1) + good.substr(g1, g2 - g1) + bad.substr(d2);
  auto refused = known.Claims(spliced);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kCryptoBadSignature);
  EXPECT_EQ(known.hits(), 0U);
}

TEST_F(KnownResultsTest, TheOldestAreForgottenAndCheckedAgain) {
  KnownResults known(key_.Public(), 2);
  const std::string t1 = Token("henb-1", ArStatus::kAffirming, key_);
  const std::string t2 = Token("henb-2", ArStatus::kAffirming, key_);
  const std::string t3 = Token("henb-3", ArStatus::kAffirming, key_);
  known.Remember(t1);
  known.Remember(t2);
  known.Remember(t2);  // once only
  known.Remember(t3);  // t1 goes
  ASSERT_TRUE(known.Claims(t2).ok());
  ASSERT_TRUE(known.Claims(t3).ok());
  EXPECT_EQ(known.hits(), 2U);
  auto again = known.Claims(t1);  // checked again, and right
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->device_id, "henb-1");
  EXPECT_EQ(known.hits(), 2U);

  KnownResults none(key_.Public(), 0);
  none.Remember(t1);
  ASSERT_TRUE(none.Claims(t1).ok());
  ASSERT_TRUE(none.Claims(t1).ok());
  EXPECT_EQ(none.hits(), 0U);
}

TEST(VerifiedJwsPayloadTest, ReadsThePayloadOfAWellFormedTokenOnly) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  auto token = SignJwsEs256(R"({"a":1})", *key);
  ASSERT_TRUE(token.ok());
  auto payload = VerifiedJwsPayload(*token);
  ASSERT_TRUE(payload.ok());
  EXPECT_EQ(*payload, R"({"a":1})");
  EXPECT_EQ(VerifiedJwsPayload("a.b").error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(VerifiedJwsPayload("a.b.c.d").error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(VerifiedJwsPayload("e30.e30.AA").error().code(), ErrorCode::kMalformed);  // header {}
}

}  // namespace
}  // namespace henbtrust
