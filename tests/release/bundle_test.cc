#include "henbtrust/release/bundle.h"

#include <gtest/gtest.h>

#include <set>

#include "release/release_fixture.h"

namespace henbtrust {
namespace {

using testing::ReleaseFixture;

class BundleTest : public ::testing::Test {
 protected:
  ReleaseFixture f_;
  ReleaseFixture::Images images_ = ReleaseFixture::DefaultImages("v2");
  std::string good_ = f_.Bundle("good.bundle", images_);

  ErrorCode Code(const std::string& path, const BundlePolicy& policy) {
    auto r = VerifyBundle(path, policy);
    return r.ok() ? ErrorCode::kInternal : r.error().code();
  }
  std::string Variant(const std::string& name, const Bytes& bytes) {
    const std::string path = f_.dir.File(name);
    testing::WriteBytes(path, bytes);
    return path;
  }
};

TEST_F(BundleTest, AValidBundleVerifiesAndStreamsEveryComponent) {
  std::map<std::string, std::string> received;
  std::set<std::string> completed;
  auto m =
      VerifyBundle(good_, f_.Policy(2), [&](const ReleaseComponent& c, ByteView chunk, bool last) {
        received[c.id] += ToString(chunk);
        if (last) completed.insert(c.id);
        return OkStatus();
      });
  ASSERT_TRUE(m.ok()) << m.error().ToString();
  EXPECT_EQ(m->components.size(), 3u);
  for (const auto& [id, content] : images_) EXPECT_EQ(received[id], content);
  EXPECT_EQ(completed.size(), 3u);
}

TEST_F(BundleTest, EachPolicyFailureHasItsCode) {
  EXPECT_EQ(Code(f_.Bundle("unsigned", images_, 2, {}), f_.Policy()), ErrorCode::kReleaseUnsigned);
  EXPECT_EQ(Code(f_.Bundle("one-sig", images_, 2, {2}), f_.Policy()), ErrorCode::kReleaseThreshold);
  auto policy = f_.Policy();
  policy.now = f_.now + 7200;
  EXPECT_EQ(Code(good_, policy), ErrorCode::kReleaseExpired);
  policy = f_.Policy();
  policy.hardware_model = "femto-z9";
  EXPECT_EQ(Code(good_, policy), ErrorCode::kReleaseHardware);
  EXPECT_EQ(Code(good_, f_.Policy(3)), ErrorCode::kReleaseRollback);

  // A key the trust root does not hold.
  ReleaseFixture other;
  const ReleaseManifest m = f_.Manifest(images_);
  auto sigs = f_.Sign(m);
  sigs.push_back(*SignWithDomain(other.vendor[0], kManifestDomain, *EncodeManifest(m)));
  const std::string unknown = f_.dir.File("unknown.bundle");
  ASSERT_TRUE(WriteBundle(unknown, m, sigs, f_.WriteImages(images_, "u")).ok());
  EXPECT_EQ(Code(unknown, f_.Policy()), ErrorCode::kReleaseUnknownKey);
}

TEST_F(BundleTest, PayloadsThatDoNotMatchTheManifestAreNamed) {
  const Bytes good = testing::ReadBytes(good_);
  // The kernel's last byte, altered: a digest mismatch naming the kernel.
  const auto header = *ReadBundleHeader(good_);
  size_t kernel_end = header.payload_offset;
  for (const auto& c : header.manifest.components) {
    kernel_end += 2 + c.id.size() + 8 + c.size;
    if (c.id == "kernel") break;
  }
  Bytes digest = good;
  digest[kernel_end - 1] ^= 1;
  auto r = VerifyBundle(Variant("digest", digest), f_.Policy());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kReleaseDigest);
  EXPECT_NE(r.error().message().find("kernel"), std::string::npos);

  // Mix and match: the payloads of another release under this manifest.
  ReleaseFixture::Images mixed = images_;
  mixed[1].second = "kernel v1";
  const ReleaseManifest m = f_.Manifest(images_);
  Bytes spliced(good.begin(), good.begin() + static_cast<long>(header.payload_offset));
  for (const auto& [id, content] : mixed) {
    PutU16Be(spliced, static_cast<uint16_t>(id.size()));
    Append(spliced, AsBytes(id));
    PutU64Be(spliced, content.size());
    Append(spliced, AsBytes(content));
  }
  EXPECT_EQ(Code(Variant("mixed", spliced), f_.Policy()), ErrorCode::kReleaseDigest);

  // A component missing, and one too many.
  const size_t last_start = good.size() - (2 + 5 + 8 + images_[2].second.size());
  EXPECT_EQ(
      Code(Variant("missing", Bytes(good.begin(), good.begin() + static_cast<long>(last_start))),
           f_.Policy()),
      ErrorCode::kReleaseComponentMissing);
  Bytes extra = good;
  PutU16Be(extra, 5);
  Append(extra, AsBytes("modem"));
  PutU64Be(extra, 3);
  Append(extra, AsBytes("abc"));
  auto e = VerifyBundle(Variant("extra", extra), f_.Policy());
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code(), ErrorCode::kReleaseComponentExtra);
  EXPECT_NE(e.error().message().find("modem"), std::string::npos);
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_EQ(Code(Variant("trailing", trailing), f_.Policy()), ErrorCode::kReleaseTruncated);
  trailing.push_back(0);
  trailing.push_back(0);
  EXPECT_EQ(Code(Variant("trailing2", trailing), f_.Policy()), ErrorCode::kReleaseTrailing);
}

TEST_F(BundleTest, EveryTruncationFails) {
  const Bytes good = testing::ReadBytes(good_);
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = VerifyBundle(Variant("cut", Bytes(good.begin(), good.begin() + static_cast<long>(n))),
                          f_.Policy());
    ASSERT_FALSE(r.ok()) << n;
  }
}

TEST_F(BundleTest, OversizedLengthsAreRefusedBeforeAllocation) {
  Bytes big = testing::ReadBytes(good_);
  big[8] = big[9] = big[10] = big[11] = 0xff;  // manifest length 4 GiB - 1
  EXPECT_EQ(Code(Variant("big-manifest", big), f_.Policy()), ErrorCode::kReleaseTooLarge);
  const auto header = *ReadBundleHeader(good_);
  Bytes sig_len = testing::ReadBytes(good_);
  const size_t at = 8 + 4 + header.manifest_bytes.size();
  sig_len[at] = 0x7f;
  EXPECT_EQ(Code(Variant("big-sigs", sig_len), f_.Policy()), ErrorCode::kReleaseTooLarge);
}

TEST_F(BundleTest, ChangingAnySingleByteMakesVerificationFail) {
  const Bytes good = testing::ReadBytes(good_);
  const std::string path = f_.dir.File("flip");
  std::set<ErrorCode> codes;
  for (size_t i = 0; i < good.size(); ++i) {
    Bytes b = good;
    b[i] ^= 0x01;
    testing::WriteBytes(path, b);
    auto r = VerifyBundle(path, f_.Policy());
    ASSERT_FALSE(r.ok()) << "byte " << i << " of " << good.size();
    codes.insert(r.error().code());
  }
  EXPECT_TRUE(codes.count(ErrorCode::kReleaseBadSignature));
  EXPECT_TRUE(codes.count(ErrorCode::kReleaseUnknownKey));
  EXPECT_TRUE(codes.count(ErrorCode::kReleaseDigest));
}

TEST_F(BundleTest, NothingReachesTheSinkBeforeSignaturesAndPolicyPass) {
  int calls = 0;
  auto sink = [&](const ReleaseComponent&, ByteView, bool) {
    ++calls;
    return OkStatus();
  };
  EXPECT_FALSE(VerifyBundle(f_.Bundle("one", images_, 2, {0}), f_.Policy(), sink).ok());
  EXPECT_FALSE(VerifyBundle(good_, f_.Policy(9), sink).ok());
  EXPECT_EQ(calls, 0);
}

TEST_F(BundleTest, SigningAddsOrReplacesASignature) {
  const std::string one = f_.Bundle("to-sign", images_, 2, {0});
  EXPECT_EQ(Code(one, f_.Policy()), ErrorCode::kReleaseThreshold);
  ASSERT_TRUE(SignBundle(one, f_.vendor[2], one).ok());
  EXPECT_TRUE(VerifyBundle(one, f_.Policy()).ok());
  ASSERT_TRUE(SignBundle(one, f_.vendor[2], one).ok());  // again: replaced, not duplicated
  EXPECT_EQ(ReadBundleHeader(one)->signatures.size(), 2u);
  EXPECT_FALSE(SignBundle(f_.dir.File("absent"), f_.vendor[0], f_.dir.File("x")).ok());
}

TEST_F(BundleTest, WriteRefusesFilesThatDoNotMatchTheManifest) {
  const ReleaseManifest m = f_.Manifest(images_);
  auto files = f_.WriteImages(images_, "w");
  testing::WriteBytes(files["femto"], AsBytes("tampered"));
  EXPECT_FALSE(WriteBundle(f_.dir.File("w.bundle"), m, f_.Sign(m), files).ok());
}

}  // namespace
}  // namespace henbtrust
