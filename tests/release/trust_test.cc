#include "henbtrust/release/trust.h"

#include <gtest/gtest.h>

#include "release/release_fixture.h"

namespace henbtrust {
namespace {

TEST(TrustRoot, VerifiesAThresholdOfKnownSignatures) {
  testing::ReleaseFixture f;
  const Bytes body = ToBytes("manifest bytes");
  auto sig = [&](size_t i) { return *SignWithDomain(f.vendor[i], kManifestDomain, body); };
  EXPECT_TRUE(f.root.VerifyThreshold(kManifestDomain, body, {sig(0), sig(2)}).ok());
  EXPECT_TRUE(f.root.VerifyThreshold(kManifestDomain, body, {sig(0), sig(1), sig(2)}).ok());
  EXPECT_EQ(f.root.VerifyThreshold(kManifestDomain, body, {}).error().code(),
            ErrorCode::kReleaseUnsigned);
  EXPECT_EQ(f.root.VerifyThreshold(kManifestDomain, body, {sig(1)}).error().code(),
            ErrorCode::kReleaseThreshold);
  auto stranger = PrivateKey::Generate(KeyType::kEcP256);
  EXPECT_EQ(
      f.root
          .VerifyThreshold(kManifestDomain, body,
                           {sig(0), sig(1), *SignWithDomain(*stranger, kManifestDomain, body)})
          .error()
          .code(),
      ErrorCode::kReleaseUnknownKey);
  auto bad = sig(1);
  bad.signature[10] ^= 1;
  EXPECT_EQ(f.root.VerifyThreshold(kManifestDomain, body, {sig(0), bad}).error().code(),
            ErrorCode::kReleaseBadSignature);
  // A signature made for another domain does not count.
  EXPECT_FALSE(f.root
                   .VerifyThreshold(kManifestDomain, body,
                                    {sig(0), *SignWithDomain(f.vendor[1], kRootDomain, body)})
                   .ok());
}

TEST(TrustRoot, RoundTripsSelfSignedAndRejectsEveryChangedByte) {
  testing::ReleaseFixture f;
  const Bytes file = *f.root.Sign({f.vendor[0], f.vendor[1]});
  auto parsed = TrustRoot::ParseSelfSigned(file);
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(parsed->threshold(), 2);
  EXPECT_EQ(parsed->keys().size(), 3u);
  for (size_t i = 0; i < file.size(); ++i) {
    Bytes b = file;
    b[i] ^= 1;
    EXPECT_FALSE(TrustRoot::ParseSelfSigned(b).ok()) << i;
  }
  EXPECT_EQ(TrustRoot::ParseSelfSigned(*f.root.Sign({f.vendor[0]})).error().code(),
            ErrorCode::kReleaseThreshold);
  EXPECT_FALSE(TrustRoot::Create({f.vendor[0].Public()}, 2).ok());
  EXPECT_FALSE(TrustRoot::Create({f.vendor[0].Public(), f.vendor[0].Public()}, 1).ok());
}

TEST(TrustRoot, RotatesOnlyWithBothThresholds) {
  testing::ReleaseFixture f;
  auto k4 = *PrivateKey::Generate(KeyType::kEcP256);
  auto k5 = *PrivateKey::Generate(KeyType::kEcP256);
  const TrustRoot next = *TrustRoot::Create({f.vendor[2].Public(), k4.Public(), k5.Public()}, 2, 2);
  auto ok = f.root.VerifyRotation(*next.Sign({f.vendor[0], f.vendor[1], k4, k5}));
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->version(), 2u);
  // A key in both roots counts for both.
  EXPECT_TRUE(f.root.VerifyRotation(*next.Sign({f.vendor[0], f.vendor[2], k4})).ok());
  // Old threshold not met: a thief of the new keys alone cannot rotate.
  EXPECT_EQ(f.root.VerifyRotation(*next.Sign({f.vendor[0], k4, k5})).error().code(),
            ErrorCode::kReleaseThreshold);
  // New threshold not met.
  EXPECT_EQ(f.root.VerifyRotation(*next.Sign({f.vendor[0], f.vendor[1], k4})).error().code(),
            ErrorCode::kReleaseThreshold);
  // Version must be exactly the next one.
  const TrustRoot skip = *TrustRoot::Create({k4.Public()}, 1, 3);
  EXPECT_EQ(f.root.VerifyRotation(*skip.Sign({f.vendor[0], f.vendor[1], k4})).error().code(),
            ErrorCode::kReleaseRoot);
}

}  // namespace
}  // namespace henbtrust
