#include "henbtrust/tpm/structures.h"

#include <gtest/gtest.h>

#include "tpm/tpm_test_util.h"

namespace henbtrust {
namespace {

TEST(QuoteAttest, ParsesTheSwtpmVectorAndMarshalsItBackByteForByte) {
  const auto v = testing::LoadSwtpmVector();
  ASSERT_EQ(v.msg.size(), 145u);
  auto q = ParseQuoteAttest(v.msg);
  ASSERT_TRUE(q.ok()) << q.error().ToString();
  EXPECT_EQ(q->magic, kTpmGeneratedValue);
  EXPECT_EQ(q->type, kTpmStAttestQuote);
  EXPECT_EQ(q->extra_data, v.nonce);
  EXPECT_EQ(q->qualified_signer.size(), 34u);
  ASSERT_EQ(q->pcr_select.size(), 1u);
  EXPECT_EQ(q->pcr_select[0].bank, HashAlg::kSha256);
  EXPECT_EQ(q->pcr_select[0].pcrs, (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(q->pcr_digest, Sha256(v.pcrs));
  EXPECT_EQ(*MarshalQuoteAttest(*q), v.msg);
}

TEST(QuoteAttest, NamesWrongMagicTypeTruncationAndTrailingBytes) {
  const auto v = testing::LoadSwtpmVector();
  Bytes magic = v.msg;
  magic[0] ^= 1;
  EXPECT_EQ(ParseQuoteAttest(magic).error().code(), ErrorCode::kQuoteMagic);
  Bytes type = v.msg;
  type[5] = 0x17;  // TPM_ST_ATTEST_CERTIFY
  EXPECT_EQ(ParseQuoteAttest(type).error().code(), ErrorCode::kQuoteType);
  for (size_t n = 0; n < v.msg.size(); ++n) {
    auto r = ParseQuoteAttest(ByteView(v.msg).first(n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().code(), ErrorCode::kTpmParse) << n;
  }
  Bytes trailing = v.msg;
  trailing.push_back(0);
  EXPECT_EQ(ParseQuoteAttest(trailing).error().code(), ErrorCode::kTpmTrailingBytes);
}

TEST(TpmSignature, ParsesEcdsaAndConvertsToDer) {
  const auto v = testing::LoadSwtpmVector();
  auto sig = ParseTpmSignature(v.sig);
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->scheme, SignatureScheme::kEcdsa);
  EXPECT_EQ(sig->hash, HashAlg::kSha256);
  EXPECT_EQ(sig->r.size(), 32u);
  EXPECT_EQ(*MarshalTpmSignature(*sig), v.sig);
  EXPECT_EQ(*SignatureForVerify(*sig), v.sig_der);
  for (size_t n = 0; n < v.sig.size(); ++n)
    EXPECT_FALSE(ParseTpmSignature(ByteView(v.sig).first(n)).ok());
  Bytes unknown_alg = v.sig;
  unknown_alg[1] = 0x1a;  // TPM_ALG_ECDAA
  EXPECT_FALSE(ParseTpmSignature(unknown_alg).ok());
}

TEST(TpmPublic, ParsesTheAkOfTpm2CreateakAndComputesItsName) {
  const auto v = testing::LoadSwtpmVector();
  auto pub = ParseTpmPublic(v.ak_tss);
  ASSERT_TRUE(pub.ok()) << pub.error().ToString();
  EXPECT_EQ(pub->key.ToDer(), PublicKey::FromPem(ToString(v.ak_pem))->ToDer());
  EXPECT_EQ(pub->name, v.ak_name);
  EXPECT_EQ(pub->object_attributes, 0x00050072u);
  EXPECT_TRUE(pub->IsRestrictedSigningKey());
  ASSERT_TRUE(pub->scheme.has_value());
  EXPECT_EQ(pub->scheme->first, SignatureScheme::kEcdsa);
  // Our AK template is the one tpm2_createak uses: same bytes from the key.
  EXPECT_EQ(*MarshalTpmPublic(KeyTemplate::kAkEccP256, pub->key), v.ak_tss);
  for (size_t n = 0; n < v.ak_tss.size(); ++n)
    EXPECT_FALSE(ParseTpmPublic(ByteView(v.ak_tss).first(n)).ok());
}

TEST(TpmPublic, EkTemplatesAreRestrictedDecryptionKeysWithThePolicy) {
  auto ec = PrivateKey::Generate(KeyType::kEcP256);
  auto ek = ParseTpmPublic(*MarshalTpmPublic(KeyTemplate::kEkEccP256, ec->Public()));
  ASSERT_TRUE(ek.ok());
  EXPECT_EQ(ek->object_attributes, 0x000300b2u);
  EXPECT_FALSE(ek->IsRestrictedSigningKey());
  auto rsa = PrivateKey::Generate(KeyType::kRsa);
  auto ek_rsa = ParseTpmPublic(*MarshalTpmPublic(KeyTemplate::kEkRsa2048, rsa->Public()));
  ASSERT_TRUE(ek_rsa.ok());
  EXPECT_EQ(ek_rsa->key.ToDer(), rsa->Public().ToDer());
  EXPECT_FALSE(MarshalTpmPublic(KeyTemplate::kEkRsa2048, ec->Public()).ok());
}

TEST(PcrSelection, MarshalsAsTpmlWithThreeByteBitmaps) {
  auto b = MarshalPcrSelection({{HashAlg::kSha256, {0, 2, 23}}});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(HexEncode(*b), "00000001000b03050080");
  EXPECT_FALSE(MarshalPcrSelection({{HashAlg::kSha256, {24}}}).ok());
}

TEST(QualifiedName, ChainsParentAndChild) {
  const Bytes name = {0x00, 0x0b, 1, 2, 3};
  const Bytes qn = QualifiedName(HashAlg::kSha256, HierarchyQualifiedName(kTpmRhEndorsement), name);
  Bytes expect{0x00, 0x0b};
  Bytes input = {0x40, 0x00, 0x00, 0x0b, 0x00, 0x0b, 1, 2, 3};
  Append(expect, Sha256(input));
  EXPECT_EQ(qn, expect);
}

}  // namespace
}  // namespace henbtrust
