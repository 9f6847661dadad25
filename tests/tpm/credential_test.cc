#include "henbtrust/tpm/credential.h"

#include <gtest/gtest.h>

#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

TEST(Kdf, KdfAIsCounterModeHmacOverLabelAndContexts) {
  const Bytes key(32, 7);
  const Bytes out = KdfA(HashAlg::kSha256, key, "STORAGE", AsBytes("u"), AsBytes("v"), 128);
  Bytes msg{0, 0, 0, 1};
  Append(msg, AsBytes(std::string("STORAGE\0uv", 10)));
  Append(msg, Bytes{0, 0, 0, 128});
  const Bytes block = Hmac(HashAlg::kSha256, key, msg);
  EXPECT_EQ(out, Bytes(block.begin(), block.begin() + 16));
  EXPECT_EQ(KdfA(HashAlg::kSha256, key, "X", {}, {}, 512).size(), 64u);
  EXPECT_EQ(KdfA(HashAlg::kSha256, key, "X", {}, {}, 12)[0] & 0xf0, 0);
  EXPECT_EQ(KdfE(HashAlg::kSha256, key, "IDENTITY", {}, {}, 256).size(), 32u);
}

TEST(Credential, TheSoftTreActivatesWhatWasMadeForItsEkAndAk) {
  auto tre = SoftTre::Create();
  const Bytes ak_name = *TpmObjectName(tre->AkPublic());
  const Bytes secret = ToBytes("enrollment-nonce-0123456789abcd");
  auto challenge = MakeCredential(tre->EkPublic(), ak_name, secret);
  ASSERT_TRUE(challenge.ok()) << challenge.error().ToString();
  auto got = tre->ActivateCredential(challenge->credential_blob, challenge->encrypted_secret);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(*got, secret);

  // Bound to another object name: refused.
  Bytes other_name = ak_name;
  other_name.back() ^= 1;
  auto wrong_name = MakeCredential(tre->EkPublic(), other_name, secret);
  EXPECT_EQ(tre->ActivateCredential(wrong_name->credential_blob, wrong_name->encrypted_secret)
                .error()
                .code(),
            ErrorCode::kQuoteKeyMismatch);
  // Made for another device's EK: refused.
  auto other = SoftTre::Create();
  auto wrong_ek = MakeCredential(other->EkPublic(), ak_name, secret);
  EXPECT_EQ(
      tre->ActivateCredential(wrong_ek->credential_blob, wrong_ek->encrypted_secret).error().code(),
      ErrorCode::kQuoteKeyMismatch);
  // Tampered blob, garbage secret.
  Bytes blob = challenge->credential_blob;
  blob.back() ^= 1;
  EXPECT_FALSE(tre->ActivateCredential(blob, challenge->encrypted_secret).ok());
  EXPECT_FALSE(tre->ActivateCredential(challenge->credential_blob, Bytes(5, 1)).ok());
  EXPECT_FALSE(MakeCredential(tre->AkPublic(), ak_name, secret).ok());  // an AK is no EK
  EXPECT_FALSE(MakeCredential(tre->EkPublic(), ak_name, Bytes(33, 1)).ok());
}

// tpm2_makecredential (tpm2-tools, offline) is an independent MakeCredential.
TEST(Credential, TheSoftTreActivatesTpm2MakecredentialOutput) {
  auto tre = SoftTre::Create();
  testing::TempDir dir;
  testing::WriteBytes(dir.File("ek.pub"), tre->EkPublic());
  testing::WriteBytes(dir.File("secret"), AsBytes("sixteen byte key"));
  const Bytes name = *TpmObjectName(tre->AkPublic());
  auto r = testing::Run("tpm2_makecredential -T none -u " + dir.File("ek.pub") + " -s " +
                        dir.File("secret") + " -n " + HexEncode(name) + " -o " + dir.File("cred"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // tpm2-tools' file: magic, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
  const Bytes file = testing::ReadBytes(dir.File("cred"));
  ByteReader in(file);
  ASSERT_EQ(*in.U32Be(), 0xbadcc0deu);
  ASSERT_EQ(*in.U32Be(), 1u);
  const ByteView blob = *in.Take(*in.U16Be());
  const ByteView secret = *in.Take(*in.U16Be());
  auto got = tre->ActivateCredential(blob, secret);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(ToString(*got), "sixteen byte key");
}

// A TPM2B_ECC_PARAMETER may leave out leading zero bytes: tpm2_makecredential
// writes the ephemeral point's coordinates that way, so about one challenge
// in 128 has a 31-byte coordinate, and a TPM feeds the x it received, at its
// size, to KDFe. Recorded once from tpm2-tools 5 for the SoftTre state below;
// the ephemeral x here is 31 bytes.
TEST(Credential, TheSoftTreActivatesAChallengeWhoseCoordinatesAreShort) {
  const Bytes state = *HexDecode(
      "48454e4253545231022a3d00be6bfe3899b70a3cab9bbc225267a59f862090867b8d0fc4e44b5714954f7f04db"
      "4980f89c3d616b9e9e36883de6aa84af50464baabe6584a835802a5d436c75e83fa38562a7ff3b155ca767d06d"
      "beb8aa36b537b705e49be3a1f943624452cf7aa4573f3b8a0b3b4adb8a83b58c4199419254ee2efc294bf8fcd7"
      "12a6c74087e039d932556e609b5f276c822f3c0937b0b4a3b52d0b2230f4bda2a284c4c70ff4798df52a4d16ba"
      "49eb4149851971654b762c66cf100dc6af8ff8840000000000000000000000000000253d00000000");
  const Bytes file = *HexDecode(
      "badcc0de00000001003400203ccff7aa0a380f526a2581b21a2b38f3d66d62240d4279635d3d4764268a07fdfd"
      "577c16f3674bbf330cfd77cfd76b0096790043001fdf7d9fa2f0538fc683cb974a0e3b5874abc22744104b876f"
      "2ec9467003f5cf0020f2c87587e27a40014780ba108daf1db03c1cbb948353a3a0283f237211b954d1");
  auto tre = SoftTre::Load(state);
  ASSERT_TRUE(tre.ok()) << tre.error().ToString();
  ByteReader in(file);
  ASSERT_EQ(*in.U32Be(), 0xbadcc0deu);
  ASSERT_EQ(*in.U32Be(), 1u);
  const ByteView blob = *in.Take(*in.U16Be());
  const ByteView secret = *in.Take(*in.U16Be());
  ASSERT_EQ(secret[0] << 8 | secret[1], 31);  // the short x this test is about
  auto got = tre->ActivateCredential(blob, secret);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(ToString(*got), "sixteen byte key");
  // The same point with its x padded to 32 bytes is the same key but not the
  // same KDFe input, so it must not open the credential.
  Bytes padded{0x00, 0x20, 0x00};
  Append(padded, secret.subspan(2));
  EXPECT_FALSE(tre->ActivateCredential(blob, padded).ok());
}

}  // namespace
}  // namespace henbtrust
