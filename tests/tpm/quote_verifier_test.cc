#include "henbtrust/tpm/quote_verifier.h"

#include <gtest/gtest.h>

#include <set>

#include "tpm/tpm_test_util.h"

namespace henbtrust {
namespace {

class SwtpmVectorTest : public ::testing::Test {
 protected:
  testing::SwtpmVector v_ = testing::LoadSwtpmVector();
  EventLog log_ = *EventLog::Parse(v_.eventlog);
  QuoteVerifier verifier_ = *QuoteVerifier::FromTpmPublic(v_.ak_tss);

  QuoteExpectations Full() const {
    QuoteExpectations e;
    e.nonce = v_.nonce;
    e.pcr_selection = std::vector<PcrSelection>{{HashAlg::kSha256, {0, 1, 2, 3, 4, 5, 6, 7}}};
    e.pcr_values = v_.pcrs;
    e.event_log = &log_;
    return e;
  }
};

TEST_F(SwtpmVectorTest, TheRealQuoteVerifiesWithEveryCheck) {
  auto r = verifier_.Verify(v_.msg, v_.sig, Full());
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->digest_alg, HashAlg::kSha256);
  EXPECT_EQ(r->info.pcr_digest, Sha256(v_.pcrs));
  auto pem = QuoteVerifier::FromAnyEncoding(v_.ak_pem);
  ASSERT_TRUE(pem.ok());
  EXPECT_TRUE(pem->Verify(v_.msg, v_.sig, Full()).ok());
  EXPECT_TRUE(QuoteVerifier::FromAnyEncoding(v_.ak_tss)->Verify(v_.msg, v_.sig, Full()).ok());
}

TEST_F(SwtpmVectorTest, EveryChangedByteOfTheQuoteIsRejected) {
  std::set<ErrorCode> seen;
  for (size_t i = 0; i < v_.msg.size(); ++i) {
    Bytes m = v_.msg;
    m[i] ^= 0x01;
    auto r = verifier_.Verify(m, v_.sig, Full());
    ASSERT_FALSE(r.ok()) << "byte " << i;
    seen.insert(r.error().code());
  }
  EXPECT_TRUE(seen.count(ErrorCode::kQuoteMagic));
  EXPECT_TRUE(seen.count(ErrorCode::kQuoteType));
  EXPECT_TRUE(seen.count(ErrorCode::kQuoteSignature));
  // A changed nonce in the quote is a forgery, caught by the signature.
  Bytes m = v_.msg;
  m[2 + 4 + 2 + 34 + 2] ^= 1;  // first byte of extraData
  EXPECT_EQ(verifier_.Verify(m, v_.sig, Full()).error().code(), ErrorCode::kQuoteSignature);
}

// docs/security.md, decisions: an AK whose template names a scheme and hash
// vouches only for quotes signed with those.
TEST_F(SwtpmVectorTest, ASignatureInAnotherHashThanTheAkDeclaresIsRefusedAsSuch) {
  const auto ak = ParseTpmPublic(v_.ak_tss);
  ASSERT_TRUE(ak.ok());
  ASSERT_TRUE(ak->scheme.has_value());
  EXPECT_EQ(ak->scheme->second, HashAlg::kSha256);
  Bytes s = v_.sig;
  ASSERT_EQ(s[2], 0x00);
  ASSERT_EQ(s[3], 0x0B);  // TPMT_SIGNATURE.signature.hash: SHA-256
  s[3] = 0x0C;            // SHA-384
  EXPECT_EQ(verifier_.Verify(v_.msg, s, Full()).error().code(), ErrorCode::kQuoteSignatureScheme);
  // A verifier from a bare public key knows no declared scheme: the
  // signature itself then fails.
  auto bare = QuoteVerifier::FromAnyEncoding(v_.ak_pem);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->Verify(v_.msg, s, Full()).error().code(), ErrorCode::kQuoteSignature);
}

TEST_F(SwtpmVectorTest, EveryChangedByteOfTheSignatureIsRejected) {
  for (size_t i = 0; i < v_.sig.size(); ++i) {
    Bytes s = v_.sig;
    s[i] ^= 0x01;
    EXPECT_FALSE(verifier_.Verify(v_.msg, s, Full()).ok()) << "byte " << i;
  }
  Bytes s = v_.sig;
  s[10] ^= 0x40;  // inside r
  EXPECT_EQ(verifier_.Verify(v_.msg, s, Full()).error().code(), ErrorCode::kQuoteSignature);
  s = v_.sig;
  s.push_back(0);
  EXPECT_EQ(verifier_.Verify(v_.msg, s, Full()).error().code(), ErrorCode::kTpmTrailingBytes);
}

TEST_F(SwtpmVectorTest, AnotherKeyOrATamperedKeyIsRejected) {
  auto other = PrivateKey::Generate(KeyType::kEcP256);
  EXPECT_EQ(QuoteVerifier(other->Public()).Verify(v_.msg, v_.sig, Full()).error().code(),
            ErrorCode::kQuoteSignature);
  auto rsa = PrivateKey::Generate(KeyType::kRsa);
  EXPECT_EQ(QuoteVerifier(rsa->Public()).Verify(v_.msg, v_.sig, Full()).error().code(),
            ErrorCode::kQuoteSignatureScheme);
  for (size_t i = 0; i < v_.ak_tss.size(); ++i) {
    Bytes k = v_.ak_tss;
    k[i] ^= 0x01;
    auto verifier = QuoteVerifier::FromTpmPublic(k);
    if (verifier.ok()) {
      // Bytes that do not affect the key (attributes that keep it a
      // restricted signing key, the scheme's hash) still make verification
      // fail or leave the key as it was.
      auto r = verifier->Verify(v_.msg, v_.sig, Full());
      if (r.ok()) {
        EXPECT_EQ(verifier->ak().ToDer(), verifier_.ak().ToDer()) << "byte " << i;
      }
    }
  }
  // A key that is not a restricted signing key cannot vouch for a quote.
  Bytes unrestricted = v_.ak_tss;
  unrestricted[2 + 2 + 2 + 1] &= 0xfe;  // clear TPMA_OBJECT_RESTRICTED (bit 16)
  EXPECT_EQ(QuoteVerifier::FromTpmPublic(unrestricted).error().code(),
            ErrorCode::kQuoteKeyMismatch);
}

TEST_F(SwtpmVectorTest, AWrongNonceIsRejected) {
  auto e = Full();
  e.nonce[0] ^= 1;
  auto r = verifier_.Verify(v_.msg, v_.sig, e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kQuoteNonce);
  EXPECT_NE(r.error().message().find(HexEncode(e.nonce)), std::string::npos);
  e.nonce.pop_back();
  EXPECT_EQ(verifier_.Verify(v_.msg, v_.sig, e).error().code(), ErrorCode::kQuoteNonce);
}

TEST_F(SwtpmVectorTest, WrongPcrValuesOrSelectionAreRejected) {
  for (size_t pcr = 0; pcr < 8; ++pcr) {
    auto e = Full();
    e.event_log = nullptr;
    (*e.pcr_values)[pcr * 32 + 5] ^= 1;
    EXPECT_EQ(verifier_.Verify(v_.msg, v_.sig, e).error().code(), ErrorCode::kQuotePcrValues)
        << pcr;
  }
  auto e = Full();
  e.pcr_values->pop_back();
  EXPECT_EQ(verifier_.Verify(v_.msg, v_.sig, e).error().code(), ErrorCode::kQuotePcrValues);
  e = Full();
  e.pcr_selection = std::vector<PcrSelection>{{HashAlg::kSha256, {0, 1, 2, 3}}};
  EXPECT_EQ(verifier_.Verify(v_.msg, v_.sig, e).error().code(), ErrorCode::kQuotePcrSelection);
}

TEST_F(SwtpmVectorTest, ALogThatDoesNotReplayIsRejectedNamingThePcr) {
  EventLog tampered = EventLog::NewCryptoAgile({HashAlg::kSha256});
  for (size_t i = 0; i < log_.events().size(); ++i) {
    Event e = log_.events()[i];
    if (i == 2) e.digests[0].digest[0] ^= 1;  // the PCR4 event
    ASSERT_TRUE(tampered.Append(e).ok());
  }
  auto e = Full();
  e.event_log = &tampered;
  auto r = verifier_.Verify(v_.msg, v_.sig, e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kQuoteEventLog);
  EXPECT_NE(r.error().message().find("sha256:4"), std::string::npos) << r.error().message();
  // A log missing an event fails the same way.
  EventLog shorter = EventLog::NewCryptoAgile({HashAlg::kSha256});
  ASSERT_TRUE(shorter.Append(log_.events()[0]).ok());
  e.event_log = &shorter;
  EXPECT_EQ(verifier_.Verify(v_.msg, v_.sig, e).error().code(), ErrorCode::kQuoteEventLog);
}

// An RSASSA quote built from its parts: the verifier handles RSA AKs.
TEST(QuoteVerifier, VerifiesRsassaQuotes) {
  auto key = PrivateKey::Generate(KeyType::kRsa);
  const Bytes values(3 * 32, 0x11);
  QuoteInfo info;
  info.qualified_signer = Bytes(34, 2);
  info.extra_data = Bytes(20, 7);
  info.pcr_select = {{HashAlg::kSha256, {1, 2, 3}}};
  info.pcr_digest = Sha256(values);
  const Bytes attest = *MarshalQuoteAttest(info);
  TpmSignature sig;
  sig.scheme = SignatureScheme::kRsaPkcs1;
  sig.hash = HashAlg::kSha256;
  sig.rsa_sig = *key->Sign(SignatureScheme::kRsaPkcs1, HashAlg::kSha256, attest);
  const Bytes sig_bytes = *MarshalTpmSignature(sig);
  QuoteExpectations e;
  e.nonce = info.extra_data;
  e.pcr_values = values;
  QuoteVerifier verifier(key->Public());
  EXPECT_TRUE(verifier.Verify(attest, sig_bytes, e).ok());
  Bytes bad = sig_bytes;
  bad.back() ^= 1;
  EXPECT_EQ(verifier.Verify(attest, bad, e).error().code(), ErrorCode::kQuoteSignature);
}

TEST(PcrSelectionSpec, ParsesTpm2ToolsSyntax) {
  auto s = ParsePcrSelectionSpec("sha256:7,0,3+sha1:1");
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->size(), 2u);
  EXPECT_EQ((*s)[0].pcrs, (std::vector<uint32_t>{0, 3, 7}));
  EXPECT_EQ((*s)[1].bank, HashAlg::kSha1);
  EXPECT_EQ(FormatPcrSelection(*s), "sha256:0,3,7+sha1:1");
  EXPECT_FALSE(ParsePcrSelectionSpec("sha256:24").ok());
  EXPECT_FALSE(ParsePcrSelectionSpec("0,1").ok());
  EXPECT_FALSE(ParsePcrSelectionSpec("md5:1").ok());
  EXPECT_FALSE(ParsePcrSelectionSpec("sha256:").ok());
}

}  // namespace
}  // namespace henbtrust
