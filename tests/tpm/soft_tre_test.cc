#include "henbtrust/tpm/soft_tre.h"

#include <gtest/gtest.h>

#include "henbtrust/tpm/quote_verifier.h"
#include "henbtrust/tpm/structures.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

const std::vector<PcrSelection> kSel = {{HashAlg::kSha256, {0, 2, 3}}};

SoftTre Booted() {
  auto tre = SoftTre::Create();
  EXPECT_TRUE(tre.ok());
  EXPECT_TRUE(tre->MeasureComponent(2, {"boot", "1"}, Sha256(AsBytes("B"))).ok());
  EXPECT_TRUE(tre->MeasureComponent(3, {"femto", "1"}, Sha256(AsBytes("F"))).ok());
  return std::move(tre).value();
}

TEST(SoftTre, QuotesVerifyWithEveryCheck) {
  SoftTre tre = Booted();
  const Bytes nonce(32, 0x5a);
  auto quote = tre.MakeQuote(nonce, kSel);
  ASSERT_TRUE(quote.ok()) << quote.error().ToString();
  auto verifier = QuoteVerifier::FromTpmPublic(tre.AkPublic());
  ASSERT_TRUE(verifier.ok());
  QuoteExpectations e;
  e.nonce = nonce;
  e.pcr_selection = kSel;
  e.pcr_values = SelectedPcrValues(*tre.ReadPcrs(kSel[0]), kSel[0]);
  e.event_log = &tre.event_log();
  auto r = verifier->Verify(quote->attest, quote->signature, e);
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  // The TIM is the composite of the replayed log.
  EXPECT_EQ(r->info.pcr_digest,
            CompositeDigest((*Replay(tre.event_log()))[HashAlg::kSha256], kSel[0]));
  EXPECT_EQ(r->info.pcr_select.size(), 1u);
}

TEST(SoftTre, QualifiedSignerIsTheAkUnderTheEk) {
  SoftTre tre = Booted();
  auto quote = tre.MakeQuote(Bytes(8, 1), kSel);
  auto info = ParseQuoteAttest(quote->attest);
  const Bytes ek_qn = QualifiedName(HashAlg::kSha256, HierarchyQualifiedName(kTpmRhEndorsement),
                                    *TpmObjectName(tre.EkPublic()));
  EXPECT_EQ(info->qualified_signer,
            QualifiedName(HashAlg::kSha256, ek_qn, *TpmObjectName(tre.AkPublic())));
}

TEST(SoftTre, RebootResetsPcrsAndLogAndCountsResets) {
  SoftTre tre = Booted();
  const auto before = *ParseQuoteAttest(tre.MakeQuote(Bytes(4, 1), kSel)->attest);
  ASSERT_TRUE(tre.Reboot().ok());
  EXPECT_TRUE(tre.event_log().events().empty());
  EXPECT_EQ((*tre.ReadPcrs(kSel[0]))[2], Bytes(32, 0));
  const auto after = *ParseQuoteAttest(tre.MakeQuote(Bytes(4, 1), kSel)->attest);
  EXPECT_EQ(after.clock.reset_count, before.clock.reset_count + 1);
  EXPECT_NE(after.pcr_digest, before.pcr_digest);
  EXPECT_GE(after.clock.clock, before.clock.clock);
}

// resetCount lives in NV memory: after reboots and a power cycle a quote
// must never show a lower reset count than one before (a verifier would
// take it for a replay).
TEST(SoftTre, ResetCountNeverGoesBackAcrossPowerCycles) {
  testing::TempDir dir;
  const std::string path = dir.File("tre.state");
  uint32_t seen = 0;
  {
    auto tre = SoftTre::OpenStateFile(path);
    ASSERT_TRUE(tre.ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(tre->Reboot().ok());
    seen = ParseQuoteAttest(tre->MakeQuote(Bytes(4, 1), kSel)->attest)->clock.reset_count;
  }
  auto again = SoftTre::OpenStateFile(path);
  ASSERT_TRUE(again.ok());
  const auto info = *ParseQuoteAttest(again->MakeQuote(Bytes(4, 1), kSel)->attest);
  EXPECT_GT(info.clock.reset_count, seen);
}

TEST(SoftTre, ReportsItsClockInQuotes) {
  SoftTre tre = Booted();
  tre.SetClock([] { return uint64_t{123456}; });
  const auto info = *ParseQuoteAttest(tre.MakeQuote(Bytes(4, 1), kSel)->attest);
  EXPECT_EQ(info.clock.clock, 123456u);
  EXPECT_TRUE(info.clock.safe);
}

TEST(SoftTre, SameMeasurementsGiveTheSameTimOnEveryDevice) {
  SoftTre a = Booted();
  SoftTre b = Booted();
  const auto qa = *ParseQuoteAttest(a.MakeQuote(Bytes(4, 1), kSel)->attest);
  const auto qb = *ParseQuoteAttest(b.MakeQuote(Bytes(4, 1), kSel)->attest);
  EXPECT_EQ(qa.pcr_digest, qb.pcr_digest);
  EXPECT_NE(qa.qualified_signer, qb.qualified_signer);
  EXPECT_NE(a.AkPublic(), b.AkPublic());
}

TEST(SoftTre, StateSurvivesSaveAndLoadAndRejectsTampering) {
  SoftTre tre = Booted();
  EXPECT_EQ(*tre.ReadCounter(), 0u);
  EXPECT_EQ(*tre.IncrementCounter(), 1u);
  EXPECT_EQ(*tre.IncrementCounter(), 2u);
  const Bytes state = tre.SaveState();
  auto loaded = SoftTre::Load(state);
  ASSERT_TRUE(loaded.ok()) << loaded.error().ToString();
  EXPECT_EQ(*loaded->ReadCounter(), 2u);
  EXPECT_EQ(loaded->AkPublic(), tre.AkPublic());
  EXPECT_EQ(loaded->EkPublic(), tre.EkPublic());
  EXPECT_TRUE(loaded->event_log().events().empty());  // PCRs do not survive power-off
  for (size_t i : {size_t{0}, size_t{9}, size_t{8 + 32 + 5}, state.size() - 1}) {
    Bytes bad = state;
    bad[i] ^= 1;
    if (i == state.size() - 1) continue;  // the reset count is not authenticated state
    EXPECT_FALSE(SoftTre::Load(bad).ok()) << i;
  }
  EXPECT_FALSE(SoftTre::Load(ByteView(state).first(state.size() - 1)).ok());
  Bytes longer = state;
  longer.push_back(0);
  EXPECT_FALSE(SoftTre::Load(longer).ok());
}

// Kept as bytes and resumed, a TrE runs on as if it had never stopped: the
// same PCRs, log and reset count, so that its next quote is the one it
// would have made; Load of the same state counts a power cycle instead.
TEST(SoftTre, ResumesFromItsBytesWithoutAPowerCycle) {
  SoftTre tre = Booted();
  uint64_t now = 5000;
  tre.SetClock([&now] { return now; });
  ASSERT_TRUE(tre.IncrementCounter().ok());
  const Bytes state = tre.SaveState();
  const Bytes volatile_state = tre.SaveVolatile();
  auto resumed = SoftTre::Resume(state, volatile_state);
  ASSERT_TRUE(resumed.ok()) << resumed.error().ToString();
  resumed->SetClock([&now] { return now; });
  EXPECT_EQ(resumed->event_log().Serialize(), tre.event_log().Serialize());
  EXPECT_EQ(*resumed->ReadCounter(), 1U);
  const PcrSelection all{HashAlg::kSha256, {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                            12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23}};
  EXPECT_EQ(*resumed->ReadPcrs(all), *tre.ReadPcrs(all));
  EXPECT_EQ(resumed->ReadClock()->reset_count, tre.ReadClock()->reset_count);
  const auto q1 = *ParseQuoteAttest(tre.MakeQuote(Bytes(4, 7), kSel)->attest);
  const auto q2 = *ParseQuoteAttest(resumed->MakeQuote(Bytes(4, 7), kSel)->attest);
  EXPECT_EQ(q2.pcr_digest, q1.pcr_digest);
  EXPECT_EQ(q2.clock.reset_count, q1.clock.reset_count);
  EXPECT_EQ(q2.clock.restart_count, q1.clock.restart_count);
  // It goes on measuring where it was.
  ASSERT_TRUE(resumed->MeasureComponent(2, {"extra", "1"}, Bytes(32, 3)).ok());
  ASSERT_TRUE(tre.MeasureComponent(2, {"extra", "1"}, Bytes(32, 3)).ok());
  EXPECT_EQ(*resumed->ReadPcrs(all), *tre.ReadPcrs(all));
  // A power cycle is Load's, not Resume's.
  auto loaded = SoftTre::Load(state);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->ReadClock()->reset_count, tre.ReadClock()->reset_count + 1);

  // Bytes that are not a volatile state are refused.
  EXPECT_FALSE(SoftTre::Resume(state, {}).ok());
  EXPECT_FALSE(SoftTre::Resume(state, state).ok());
  EXPECT_FALSE(SoftTre::Resume(state, ByteView(volatile_state).first(14)).ok());
  Bytes unordered = volatile_state;
  unordered[12] = 0;  // the PCR count, now 0: the log no longer parses in place of the PCRs
  EXPECT_FALSE(SoftTre::Resume(state, unordered).ok());
  EXPECT_FALSE(SoftTre::Resume(volatile_state, volatile_state).ok());
}

TEST(SoftTre, StaysUnderOneKibibytePerDevice) {
  SoftTre tre = Booted();
  EXPECT_LT(tre.StateSizeBytes(), 1024u);
}

TEST(SoftTre, RejectsBadRequests) {
  SoftTre tre = Booted();
  EXPECT_FALSE(tre.MakeQuote(Bytes(65, 0), kSel).ok());
  EXPECT_FALSE(tre.MakeQuote(Bytes(8, 0), {}).ok());
  EXPECT_FALSE(tre.MakeQuote(Bytes(8, 0), {{HashAlg::kSha1, {0}}}).ok());
  EXPECT_FALSE(tre.MeasureComponent(24, {"x", "1"}, Bytes(32, 0)).ok());
  EXPECT_FALSE(tre.MeasureComponent(18, {"x", "1"}, Bytes(32, 0)).ok());
  EXPECT_FALSE(tre.MeasureComponent(2, {"x", "1"}, Bytes(20, 0)).ok());
  EXPECT_EQ(tre.event_log().events().size(), 2u);  // nothing was added
  EXPECT_EQ((*tre.ReadPcrs({HashAlg::kSha256, {17}}))[17], Bytes(32, 0xff));
}

}  // namespace
}  // namespace henbtrust
