#include "henbtrust/release/manifest.h"

#include <gtest/gtest.h>

#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"
#include "release/release_fixture.h"

namespace henbtrust {
namespace {

TEST(Manifest, RoundTripsCanonically) {
  testing::ReleaseFixture f;
  const ReleaseManifest m = f.Manifest(testing::ReleaseFixture::DefaultImages("a"));
  const Bytes bytes = *EncodeManifest(m);
  auto parsed = ParseManifest(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(*EncodeManifest(*parsed), bytes);
  EXPECT_EQ(parsed->components.size(), 3u);
  EXPECT_EQ(parsed->Find("kernel")->pcr, 2u);
  EXPECT_EQ(parsed->Find("modem"), nullptr);
}

TEST(Manifest, RejectsEveryTruncationAndTrailingBytes) {
  testing::ReleaseFixture f;
  const Bytes bytes = *EncodeManifest(f.Manifest(testing::ReleaseFixture::DefaultImages("a")));
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto r = ParseManifest(ByteView(bytes).first(n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().layer(), ErrorLayer::kRelease) << n;
  }
  Bytes longer = bytes;
  longer.push_back(0);
  EXPECT_EQ(ParseManifest(longer).error().code(), ErrorCode::kReleaseTrailing);
}

TEST(Manifest, RefusesNonCanonicalContent) {
  testing::ReleaseFixture f;
  ReleaseManifest m = f.Manifest(testing::ReleaseFixture::DefaultImages("a"));
  auto bad = [&](auto mutate) {
    ReleaseManifest c = m;
    mutate(c);
    return !EncodeManifest(c).ok();
  };
  EXPECT_TRUE(bad([](ReleaseManifest& c) { c.hardware_models = {"b", "a"}; }));
  EXPECT_TRUE(bad([](ReleaseManifest& c) { c.hardware_models = {"a", "a"}; }));
  EXPECT_TRUE(bad([](ReleaseManifest& c) { c.hardware_models.clear(); }));
  EXPECT_TRUE(bad([](ReleaseManifest& c) { c.components[1].id = c.components[0].id; }));
  // PCR 15 is the boot stage's; 16 and 23 the OS can reset; 17-22 are a
  // dynamic launch's.
  for (uint32_t pcr : {15u, 16u, 18u, 23u, 24u}) {
    EXPECT_TRUE(bad([pcr](ReleaseManifest& c) { c.components[0].pcr = pcr; })) << pcr;
  }
  EXPECT_FALSE(bad([](ReleaseManifest& c) { c.components[0].pcr = 14; }));
  EXPECT_TRUE(bad([](ReleaseManifest& c) { c.components[0].sha256.pop_back(); }));
  EXPECT_TRUE(bad([](ReleaseManifest& c) { c.components[0].id = "has space"; }));
  EXPECT_TRUE(bad([](ReleaseManifest& c) { c.components.clear(); }));
  EXPECT_TRUE(
      bad([](ReleaseManifest& c) { c.components.resize(kMaxComponents + 1, c.components[0]); }));
  // A count past its bound is refused before anything is read for it.
  Bytes bytes = *EncodeManifest(m);
  const size_t count_at = 2 + 2 + m.release_id.size() + 2 + m.version.size() + 8;
  bytes[count_at] = 0xff;
  EXPECT_EQ(ParseManifest(bytes).error().code(), ErrorCode::kReleaseTooLarge);
}

TEST(Manifest, ExpectedTimIsWhatAFreshTrEMeasures) {
  testing::ReleaseFixture f;
  const ReleaseManifest m = f.Manifest(testing::ReleaseFixture::DefaultImages("a"));
  auto tre = SoftTre::Create();
  for (const auto& c : m.components)
    ASSERT_TRUE(tre->MeasureComponent(c.pcr, {c.id, c.version}, c.sha256).ok());
  const PcrSelection sel = PlanSelection(m);
  EXPECT_EQ(sel.pcrs, (std::vector<uint32_t>{0, 2, 3}));
  auto quote = tre->MakeQuote(Bytes(4, 0), {sel});
  EXPECT_EQ(ParseQuoteAttest(quote->attest)->pcr_digest, ExpectedTim(m));
  EXPECT_EQ(PlanEventLog(m).Serialize(), tre->event_log().Serialize());
  // Another image, another TIM.
  EXPECT_NE(ExpectedTim(f.Manifest(testing::ReleaseFixture::DefaultImages("b"))), ExpectedTim(m));
}

}  // namespace
}  // namespace henbtrust
