// TpmTre against a private swtpm, cross-checked with tpm2-tools.
#include "henbtrust/tpm/tpm_tre.h"

#include <gtest/gtest.h>

#include "henbtrust/tpm/credential.h"
#include "henbtrust/tpm/quote_verifier.h"
#include "henbtrust/tpm/soft_tre.h"
#include "henbtrust/tpm/structures.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

const std::vector<PcrSelection> kSel = {{HashAlg::kSha256, {0, 2, 3}}};

class TpmTreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(swtpm_.ok()) << "could not start swtpm";
    auto tre = Open();
    ASSERT_TRUE(tre.ok()) << tre.error().ToString();
    tre_ = std::move(tre).value();
  }
  Result<std::unique_ptr<Tre>> Open() {
    TpmTreOptions o;
    o.tcti = swtpm_.Tcti();
    o.swtpm_control = swtpm_.Control();
    return OpenTpmTre(o);
  }
  void Measure(Tre& tre) {
    ASSERT_TRUE(tre.MeasureComponent(2, {"boot", "1"}, Sha256(AsBytes("B"))).ok());
    ASSERT_TRUE(tre.MeasureComponent(3, {"femto", "1"}, Sha256(AsBytes("F"))).ok());
  }

  testing::Swtpm swtpm_;
  std::unique_ptr<Tre> tre_;
};

TEST_F(TpmTreTest, QuotesVerifyInOursAndInTpm2Checkquote) {
  Measure(*tre_);
  const Bytes nonce(32, 0xa5);
  auto quote = tre_->MakeQuote(nonce, kSel);
  ASSERT_TRUE(quote.ok()) << quote.error().ToString();
  auto verifier = QuoteVerifier::FromTpmPublic(tre_->AkPublic());
  ASSERT_TRUE(verifier.ok()) << verifier.error().ToString();
  QuoteExpectations e;
  e.nonce = nonce;
  e.pcr_selection = kSel;
  e.pcr_values = SelectedPcrValues(*tre_->ReadPcrs(kSel[0]), kSel[0]);
  e.event_log = &tre_->event_log();
  ASSERT_TRUE(verifier->Verify(quote->attest, quote->signature, e).ok());

  testing::TempDir dir;
  testing::WriteBytes(dir.File("ak.pub"), tre_->AkPublic());
  testing::WriteBytes(dir.File("q.msg"), quote->attest);
  testing::WriteBytes(dir.File("q.sig"), quote->signature);
  testing::WriteBytes(dir.File("pcrs"), *e.pcr_values);
  const std::string check = "tpm2_checkquote -u " + dir.File("ak.pub") + " -m " +
                            dir.File("q.msg") + " -s " + dir.File("q.sig") + " -f " +
                            dir.File("pcrs") + " -l sha256:0,2,3 -g sha256 -q ";
  auto r = testing::Run(check + HexEncode(nonce));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(testing::Run(check + HexEncode(Bytes(32, 0xa4))).exit_code, 0);
}

TEST_F(TpmTreTest, ProducesTheSameStructuresAsTheSoftTre) {
  auto soft = SoftTre::Create();
  Measure(*tre_);
  Measure(*soft);
  const Bytes nonce(16, 3);
  auto hq = ParseQuoteAttest(tre_->MakeQuote(nonce, kSel)->attest);
  auto sq = ParseQuoteAttest(soft->MakeQuote(nonce, kSel)->attest);
  ASSERT_TRUE(hq.ok() && sq.ok());
  EXPECT_EQ(hq->pcr_digest, sq->pcr_digest);  // same measurements, same TIM
  EXPECT_EQ(hq->qualified_signer.size(), sq->qualified_signer.size());
  EXPECT_EQ(hq->extra_data, sq->extra_data);
  EXPECT_EQ(tre_->event_log().Serialize(), soft->event_log().Serialize());
  // swtpm computes qualifiedSigner as QN(EK) then QN(AK), as the soft TrE does.
  const Bytes ek_qn = QualifiedName(HashAlg::kSha256, HierarchyQualifiedName(kTpmRhEndorsement),
                                    *TpmObjectName(tre_->EkPublic()));
  EXPECT_EQ(hq->qualified_signer,
            QualifiedName(HashAlg::kSha256, ek_qn, *TpmObjectName(tre_->AkPublic())));
  // Both AK public areas come from one template.
  auto hard_ak = ParseTpmPublic(tre_->AkPublic());
  EXPECT_EQ(*MarshalTpmPublic(KeyTemplate::kAkEccP256, hard_ak->key), tre_->AkPublic());
}

TEST_F(TpmTreTest, RebootResetsPcrsAndKeepsKeysAndCounter) {
  Measure(*tre_);
  const Bytes ak = tre_->AkPublic();
  EXPECT_EQ(*tre_->ReadCounter(), 0u);
  EXPECT_EQ(*tre_->IncrementCounter(), 1u);
  const auto before = *ParseQuoteAttest(tre_->MakeQuote(Bytes(4, 1), kSel)->attest);
  ASSERT_TRUE(tre_->Reboot().ok());
  EXPECT_TRUE(tre_->event_log().events().empty());
  EXPECT_EQ((*tre_->ReadPcrs(kSel[0]))[2], Bytes(32, 0));
  const auto after = *ParseQuoteAttest(tre_->MakeQuote(Bytes(4, 1), kSel)->attest);
  EXPECT_EQ(after.clock.reset_count, before.clock.reset_count + 1);
  EXPECT_EQ(tre_->AkPublic(), ak);
  EXPECT_EQ(*tre_->ReadCounter(), 1u);
  // A second process finds the same persistent AK.
  tre_.reset();
  auto again = Open();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->AkPublic(), ak);
  EXPECT_EQ(*(*again)->IncrementCounter(), 2u);
}

TEST_F(TpmTreTest, LeavesNoTransientObjectsAfterThousandsOfQuotes) {
  Measure(*tre_);
  for (int i = 0; i < 2000; ++i) {
    auto q = tre_->MakeQuote(Bytes(8, static_cast<uint8_t>(i)), kSel);
    ASSERT_TRUE(q.ok()) << i << ": " << q.error().ToString();
  }
  for (int i = 0; i < 10; ++i) {
    tre_.reset();
    auto t = Open();
    ASSERT_TRUE(t.ok()) << t.error().ToString();
    tre_ = std::move(t).value();
  }
  tre_.reset();  // release the connection so tpm2-tools can talk to swtpm
  auto r = testing::Run("tpm2_getcap handles-transient", swtpm_.ToolsEnv());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("0x80"), std::string::npos) << r.out;
  auto s = testing::Run("tpm2_getcap handles-loaded-session", swtpm_.ToolsEnv());
  EXPECT_EQ(s.out.find("0x02"), std::string::npos) << s.out;
}

TEST_F(TpmTreTest, RejectsBadEventsWithoutTouchingThePcrs) {
  const auto before = *tre_->ReadPcrs(kSel[0]);
  Event e;
  e.pcr = 2;
  e.digests = {{static_cast<uint16_t>(HashAlg::kSha1), Bytes(20, 1)}};  // not a bank of the log
  EXPECT_FALSE(tre_->Extend(e).ok());
  EXPECT_EQ(*tre_->ReadPcrs(kSel[0]), before);
  EXPECT_TRUE(tre_->event_log().events().empty());
}

TEST_F(TpmTreTest, ActivatesCredentialsMadeInSoftwareForItsRsaEk) {
  const Bytes name = *TpmObjectName(tre_->AkPublic());
  const Bytes secret = ToBytes("0123456789abcdef0123456789abcdef");
  auto challenge = MakeCredential(tre_->EkPublic(), name, secret);
  ASSERT_TRUE(challenge.ok()) << challenge.error().ToString();
  auto got = tre_->ActivateCredential(challenge->credential_blob, challenge->encrypted_secret);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(*got, secret);
  Bytes other = name;
  other.back() ^= 1;
  auto wrong = MakeCredential(tre_->EkPublic(), other, secret);
  EXPECT_EQ(
      tre_->ActivateCredential(wrong->credential_blob, wrong->encrypted_secret).error().code(),
      ErrorCode::kQuoteKeyMismatch);
  // Sessions are flushed: activation works again and again.
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(
        tre_->ActivateCredential(challenge->credential_blob, challenge->encrypted_secret).ok());
  }
}

TEST(TpmTreOpen, CreatesAnEccEkWhenAsked) {
  testing::Swtpm swtpm;
  ASSERT_TRUE(swtpm.ok());
  TpmTreOptions o;
  o.tcti = swtpm.Tcti();
  o.ek_type = EkType::kEccP256;
  auto tre = OpenTpmTre(o);
  ASSERT_TRUE(tre.ok()) << tre.error().ToString();
  auto ek = ParseTpmPublic((*tre)->EkPublic());
  ASSERT_TRUE(ek.ok());
  EXPECT_EQ(ek->key.type(), KeyType::kEcP256);
  EXPECT_EQ(ek->object_attributes, 0x000300b2u);
  // The TPM's EK public area is the template with its key: the soft TrE's encoding.
  EXPECT_EQ(*MarshalTpmPublic(KeyTemplate::kEkEccP256, ek->key), (*tre)->EkPublic());
  // Credential activation with an ECC EK (ECDH + KDFe seed).
  auto challenge =
      MakeCredential((*tre)->EkPublic(), *TpmObjectName((*tre)->AkPublic()), ToBytes("ecc secret"));
  ASSERT_TRUE(challenge.ok());
  auto got = (*tre)->ActivateCredential(challenge->credential_blob, challenge->encrypted_secret);
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_EQ(ToString(*got), "ecc secret");
  auto q = (*tre)->MakeQuote(Bytes(8, 1), kSel);
  ASSERT_TRUE(q.ok());
  QuoteExpectations e;
  e.nonce = Bytes(8, 1);
  EXPECT_TRUE(
      QuoteVerifier::FromTpmPublic((*tre)->AkPublic())->Verify(q->attest, q->signature, e).ok());
}

TEST(TpmTreOpen, ReportsAnUnreachableTpm) {
  TpmTreOptions o;
  o.tcti = "swtpm:host=127.0.0.1,port=1";
  auto r = OpenTpmTre(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kTpmDevice);
}

}  // namespace
}  // namespace henbtrust
