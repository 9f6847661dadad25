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

}  // namespace
}  // namespace henbtrust
