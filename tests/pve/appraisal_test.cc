#include "henbtrust/pve/appraisal.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "henbtrust/crypto/jws.h"
#include "henbtrust/net/deferral_ticket.h"
#include "henbtrust/pve/ear.h"
#include "henbtrust/tpm/soft_tre.h"
#include "release/release_fixture.h"

namespace henbtrust {
namespace {

class AppraisalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto t = SoftTre::Create();
    ASSERT_TRUE(t.ok());
    tre_ = std::make_unique<SoftTre>(std::move(t).value());
    Boot(*tre_, {});
    device_ = DeviceRecord{"henb-1",
                           "femto-a1",
                           tre_->EkPublic(),
                           {},
                           tre_->AkPublic(),
                           reference_.release_id,
                           "2.0",
                           "enrolled",
                           0,
                           0,
                           0,
                           ""};
  }

  // Measures the reference release, with `replaced` images (id -> content) instead.
  void Boot(SoftTre& tre, const std::map<std::string, std::string>& replaced) {
    ASSERT_TRUE(tre.Reboot().ok());
    for (const auto& c : reference_.components) {
      auto it = replaced.find(c.id);
      const Bytes digest = it == replaced.end() ? c.sha256 : Sha256(AsBytes(it->second));
      ASSERT_TRUE(tre.MeasureComponent(c.pcr, {c.id, c.version}, digest).ok());
    }
  }

  Evidence Collect(SoftTre& tre, ByteView nonce, bool with_log = true) {
    auto q = tre.MakeQuote(nonce, {PlanSelection(reference_)});
    EXPECT_TRUE(q.ok());
    return Evidence{q->attest, q->signature, with_log ? tre.event_log().Serialize() : Bytes{}};
  }

  AppraisalResult Appraise(const Evidence& e, bool revoked = false) {
    auto r = appraiser_.Appraise(device_, reference_, revoked, e, nonce_, 1'800'000'000);
    EXPECT_TRUE(r.ok()) << r.error().ToString();
    return r.ok() ? std::move(r).value() : AppraisalResult{};
  }

  testing::ReleaseFixture fixture_;
  ReleaseManifest reference_ = fixture_.Manifest(testing::ReleaseFixture::DefaultImages("v2"));
  std::unique_ptr<SoftTre> tre_;
  DeviceRecord device_;
  Appraiser appraiser_;
  Bytes nonce_ = Bytes(32, 0x42);
};

TEST_F(AppraisalTest, TheReferenceConfigurationIsAffirmed) {
  const AppraisalResult r = Appraise(Collect(*tre_, nonce_, /*with_log=*/false));
  EXPECT_EQ(r.status, ArStatus::kAffirming) << r.detail;
  EXPECT_EQ(r.tim, ExpectedTim(reference_));
  ASSERT_EQ(r.components.size(), 3u);
  for (const auto& c : r.components) EXPECT_EQ(c.status, ArStatus::kAffirming);
  EXPECT_EQ(r.submodules.at("boot"), ArStatus::kAffirming);
  EXPECT_EQ(r.submodules.at("os"), ArStatus::kAffirming);
  // A second appraisal uses the caches and agrees.
  EXPECT_EQ(Appraise(Collect(*tre_, nonce_)).status, ArStatus::kAffirming);
}

// A device with a boot stage sends a second quote, of PCR 15, whose one
// event names the ticket key the watchdog trusts: the PVE reads the key
// from it only when that quote verifies and the log explains it.
TEST_F(AppraisalTest, TheBootStageQuoteNamesTheTicketKey) {
  const Bytes key = Sha256(AsBytes("the OAM's ticket key"));
  auto boot_stage_event = [](const std::string& text) {
    Event e;
    e.pcr = kBootStagePcr;
    e.type = event_type::kAction;
    e.data = ToBytes(text);
    e.digests.push_back({static_cast<uint16_t>(HashAlg::kSha256), Sha256(e.data)});
    return e;
  };
  auto boot = [&](const std::vector<Event>& stage) {
    ASSERT_TRUE(tre_->Reboot().ok());
    for (const auto& e : stage) ASSERT_TRUE(tre_->Extend(e).ok());
    for (const auto& c : reference_.components) {
      ASSERT_TRUE(tre_->MeasureComponent(c.pcr, {c.id, c.version}, c.sha256).ok());
    }
  };
  auto collect = [&](ByteView stage_nonce) {
    Evidence e = Collect(*tre_, nonce_);
    auto q = tre_->MakeQuote(stage_nonce, {{HashAlg::kSha256, {kBootStagePcr}}});
    EXPECT_TRUE(q.ok());
    e.boot_stage_attest = q->attest;
    e.boot_stage_signature = q->signature;
    return e;
  };
  const Event measured = boot_stage_event(kBootStageEventPrefix + HexEncode(key));
  boot({measured});
  AppraisalResult r = Appraise(collect(nonce_));
  EXPECT_EQ(r.status, ArStatus::kAffirming) << r.detail;
  EXPECT_EQ(r.ticket_key, key);
  // Without the boot stage's quote the key is not known.
  EXPECT_TRUE(Appraise(Collect(*tre_, nonce_)).ticket_key.empty());
  // A boot stage quote with another nonce (a replay) does not verify.
  r = Appraise(collect(Bytes(32, 0x43)));
  EXPECT_EQ(r.status, ArStatus::kContraindicated);
  EXPECT_EQ(r.evidence_error, ErrorCode::kQuoteNonce) << r.detail;
  EXPECT_TRUE(r.ticket_key.empty());
  // An OS that extends PCR 15 after the boot stage: not one measurement.
  boot({measured, boot_stage_event(kBootStageEventPrefix + HexEncode(Sha256(AsBytes("other"))))});
  r = Appraise(collect(nonce_));
  EXPECT_EQ(r.status, ArStatus::kContraindicated);
  EXPECT_TRUE(r.ticket_key.empty());
  // A PCR 15 event that is not the boot stage's text.
  boot({boot_stage_event("some other event")});
  r = Appraise(collect(nonce_));
  EXPECT_EQ(r.status, ArStatus::kContraindicated);
  EXPECT_NE(r.detail.find("boot stage"), std::string::npos) << r.detail;
  // A log without the boot stage's event does not replay to the quote.
  boot({measured});
  Evidence unexplained = collect(nonce_);
  ASSERT_TRUE(tre_->Reboot().ok());
  for (const auto& c : reference_.components) {
    ASSERT_TRUE(tre_->MeasureComponent(c.pcr, {c.id, c.version}, c.sha256).ok());
  }
  unexplained.event_log = tre_->event_log().Serialize();
  r = Appraise(unexplained);
  EXPECT_EQ(r.status, ArStatus::kContraindicated);
  EXPECT_TRUE(r.ticket_key.empty());
}

TEST_F(AppraisalTest, AChangedComponentIsNamedAndItsSubmoduleContraindicated) {
  Boot(*tre_, {{"kernel", "kernel with an implant"}});
  const AppraisalResult r = Appraise(Collect(*tre_, nonce_));
  EXPECT_EQ(r.status, ArStatus::kContraindicated);
  std::map<std::string, ComponentVerdict> by_id;
  for (const auto& c : r.components) by_id[c.id] = c;
  EXPECT_EQ(by_id.at("kernel").status, ArStatus::kContraindicated);
  EXPECT_NE(by_id.at("kernel").detail.find("RIM " + HexEncode(reference_.Find("kernel")->sha256)),
            std::string::npos);
  EXPECT_EQ(by_id.at("bootloader").status, ArStatus::kAffirming);
  EXPECT_EQ(r.submodules.at("boot"), ArStatus::kAffirming);      // PCR 0
  EXPECT_EQ(r.submodules.at("os"), ArStatus::kContraindicated);  // PCR 2
  // Without a log the mismatch is still caught, just not explained.
  const AppraisalResult bare = Appraise(Collect(*tre_, nonce_, false));
  EXPECT_EQ(bare.status, ArStatus::kContraindicated);
  EXPECT_NE(bare.detail.find("no event log"), std::string::npos);
}

TEST_F(AppraisalTest, BadEvidenceIsContraindicatedWithTheFailedCheck) {
  auto other = SoftTre::Create();
  Boot(*other, {});
  // Evidence signed by another device's AK.
  const AppraisalResult foreign = Appraise(Collect(*other, nonce_));
  EXPECT_NE(foreign.detail.find("quote.signature-invalid"), std::string::npos);
  EXPECT_EQ(foreign.evidence_error, ErrorCode::kQuoteSignature);
  // A replayed quote (another nonce).
  const AppraisalResult replay = Appraise(Collect(*tre_, Bytes(32, 1)));
  EXPECT_EQ(replay.status, ArStatus::kContraindicated);
  EXPECT_NE(replay.detail.find("quote.nonce-mismatch"), std::string::npos);
  // A genuine quote of a modified boot with the log of a clean boot.
  Boot(*tre_, {{"femto", "rogue femto stack"}});
  Evidence e = Collect(*tre_, nonce_);
  e.event_log = PlanEventLog(reference_).Serialize();
  EXPECT_NE(Appraise(e).detail.find("quote.eventlog-mismatch"), std::string::npos);
  EXPECT_EQ(Appraise(e).evidence_error, ErrorCode::kQuoteEventLog);
  // A genuine quote of the reference boot whose log does not replay: the
  // composite matches, but a device that sends a false log is not affirmed.
  Boot(*tre_, {});
  Evidence lying = Collect(*tre_, nonce_);
  Boot(*other, {{"kernel", "some other kernel"}});
  lying.event_log = other->event_log().Serialize();
  const AppraisalResult lie = Appraise(lying);
  EXPECT_EQ(lie.status, ArStatus::kContraindicated);
  EXPECT_EQ(lie.evidence_error, ErrorCode::kQuoteEventLog);
  // Garbage.
  EXPECT_EQ(Appraise(Evidence{Bytes(10, 1), Bytes(10, 2), {}}).status, ArStatus::kContraindicated);
  EXPECT_TRUE(Appraise(Evidence{Bytes(10, 1), Bytes(10, 2), {}}).evidence_error.has_value());
}

// A log that replayed before is not replayed again, and that changes no
// result: each appraisal by the appraiser that has seen the log equals the
// one by an appraiser that has not.
TEST_F(AppraisalTest, ALogThatReplayedBeforeGivesTheSameResults) {
  auto same = [&](const Evidence& e) {
    Appraiser fresh;
    auto want = fresh.Appraise(device_, reference_, false, e, nonce_, 1'800'000'000);
    const AppraisalResult got = Appraise(e);
    ASSERT_TRUE(want.ok());
    EXPECT_EQ(got.status, want->status);
    EXPECT_EQ(got.detail, want->detail);
    EXPECT_EQ(got.evidence_error, want->evidence_error);
    ASSERT_EQ(got.components.size(), want->components.size());
    for (size_t i = 0; i < got.components.size(); ++i) {
      EXPECT_EQ(got.components[i].id, want->components[i].id);
      EXPECT_EQ(got.components[i].status, want->components[i].status);
      EXPECT_EQ(got.components[i].detail, want->components[i].detail);
    }
  };
  const Evidence clean = Collect(*tre_, nonce_);
  EXPECT_EQ(Appraise(clean).status, ArStatus::kAffirming);  // the clean log replayed once
  same(clean);
  // The clean log, seen before, with the quote of a modified boot.
  Boot(*tre_, {{"femto", "rogue femto stack"}});
  Evidence lying = Collect(*tre_, nonce_);
  const Bytes rogue_log = lying.event_log;
  lying.event_log = clean.event_log;
  same(lying);
  EXPECT_EQ(Appraise(lying).evidence_error, ErrorCode::kQuoteEventLog);
  // The modified boot's own log: replayed once, then taken as seen; both
  // times its components are named from it.
  lying.event_log = rogue_log;
  same(lying);
  same(lying);
  const AppraisalResult named = Appraise(lying);
  EXPECT_EQ(named.status, ArStatus::kContraindicated);
  EXPECT_FALSE(named.evidence_error.has_value());
  bool femto_named = false;
  for (const auto& c : named.components)
    femto_named |= c.id == "femto" && c.status == ArStatus::kContraindicated;
  EXPECT_TRUE(femto_named);
  // Another nonce with a seen log still fails on the nonce.
  same(Collect(*tre_, Bytes(32, 7)));
}

TEST_F(AppraisalTest, RevokedReleasesAndClocksGoingBackAreContraindicated) {
  const AppraisalResult revoked = Appraise(Collect(*tre_, nonce_), /*revoked=*/true);
  EXPECT_EQ(revoked.status, ArStatus::kContraindicated);
  EXPECT_NE(revoked.detail.find("revoked"), std::string::npos);
  DeviceRecord other_model = device_;
  other_model.hardware_model = "femto-z9";
  auto wrong_hw =
      appraiser_.Appraise(other_model, reference_, false, Collect(*tre_, nonce_), nonce_, 0);
  EXPECT_NE(wrong_hw->detail.find("not for hardware model femto-z9"), std::string::npos)
      << wrong_hw->detail;
  device_.reset_count = 1000;
  const AppraisalResult clock = Appraise(Collect(*tre_, nonce_));
  EXPECT_EQ(clock.status, ArStatus::kContraindicated);
  EXPECT_NE(clock.detail.find("clock went backwards"), std::string::npos);
}

// The AR4SI vector tells the cases apart that the status alone does not
// (docs/appraisal-claims.md), and is never worse than the status says.
TEST_F(AppraisalTest, TheTrustworthinessVectorSaysWhy) {
  auto agrees = [](const AppraisalResult& r) {
    const TrustTier status = r.status == ArStatus::kAffirming ? TrustTier::kAffirming
                             : r.status == ArStatus::kWarning ? TrustTier::kWarning
                                                              : TrustTier::kContraindicated;
    EXPECT_LE(r.vector.WorstTier(), status) << r.detail;
    EXPECT_NE(r.vector.WorstTier(), TrustTier::kNone) << "at least one claim";
  };
  using C = TrustClaim;
  const AppraisalResult good = Appraise(Collect(*tre_, nonce_));
  agrees(good);
  EXPECT_EQ(good.vector.Get(C::kInstanceIdentity), ar4si::kTrustworthyInstance);
  EXPECT_EQ(good.vector.Get(C::kExecutables), ar4si::kApprovedBoot);
  EXPECT_EQ(good.vector.Get(C::kConfiguration), ar4si::kApprovedConfig);
  EXPECT_EQ(good.vector.Get(C::kHardware), ar4si::kGenuineHardware);
  EXPECT_EQ(good.vector.WorstTier(), TrustTier::kAffirming);

  // A genuine release that is revoked: vulnerable, not modified.
  const AppraisalResult revoked = Appraise(Collect(*tre_, nonce_), /*revoked=*/true);
  agrees(revoked);
  EXPECT_EQ(revoked.vector.Get(C::kExecutables), ar4si::kUnsafeRuntime);
  EXPECT_EQ(revoked.vector.Get(C::kConfiguration), ar4si::kUnsupportableConfig);
  EXPECT_EQ(revoked.vector.Get(C::kInstanceIdentity), ar4si::kTrustworthyInstance);

  // A release not made for the device's hardware.
  DeviceRecord other_model = device_;
  other_model.hardware_model = "femto-z9";
  auto wrong_hw =
      appraiser_.Appraise(other_model, reference_, false, Collect(*tre_, nonce_), nonce_, 0);
  ASSERT_TRUE(wrong_hw.ok());
  agrees(*wrong_hw);
  EXPECT_EQ(wrong_hw->vector.Get(C::kConfiguration), ar4si::kUnsupportableConfig);
  EXPECT_EQ(wrong_hw->vector.Get(C::kExecutables), ar4si::kApprovedBoot);

  // Evidence from another TPM: nothing else is claimed.
  auto other = SoftTre::Create();
  Boot(*other, {});
  const AppraisalResult foreign = Appraise(Collect(*other, nonce_));
  agrees(foreign);
  EXPECT_EQ(foreign.vector.Get(C::kInstanceIdentity), ar4si::kCryptoValidationFailed);
  EXPECT_EQ(foreign.vector.Get(C::kExecutables), ar4si::kNoClaim);

  // A modified component, with and without a log to name it.
  Boot(*tre_, {{"kernel", "kernel with an implant"}});
  for (bool with_log : {true, false}) {
    const AppraisalResult implant = Appraise(Collect(*tre_, nonce_, with_log));
    agrees(implant);
    EXPECT_EQ(implant.vector.Get(C::kExecutables), ar4si::kUnrecognizedRuntime) << with_log;
    EXPECT_EQ(implant.vector.Get(C::kConfiguration), ar4si::kNoClaim) << with_log;
  }

  // A TPM clock that went back: the instance is not to be trusted.
  Boot(*tre_, {});
  device_.reset_count = 1000;
  const AppraisalResult clock = Appraise(Collect(*tre_, nonce_));
  agrees(clock);
  EXPECT_EQ(clock.vector.Get(C::kInstanceIdentity), ar4si::kUntrustworthyInstance);
}

TEST_F(AppraisalTest, TheEarTokenIsSignedAndCarriesTheVerdicts) {
  auto key = PrivateKey::Generate(KeyType::kEcP256);
  Boot(*tre_, {{"kernel", "kernel with an implant"}});
  const AppraisalResult r = Appraise(Collect(*tre_, nonce_));
  auto token = EncodeEar(r, *key, "pve-1");
  ASSERT_TRUE(token.ok()) << token.error().ToString();
  auto claims = VerifyJwsEs256(*token, key->Public());
  ASSERT_TRUE(claims.ok()) << claims.error().ToString();
  const auto j = nlohmann::json::parse(*claims);
  // Every claim, in order, as the EAR profile names them.
  nlohmann::ordered_json expected = {
      {"eat_profile", "tag:github.com,2023:veraison/ear"},
      {"iat", r.issued_at},
      {"ear.verifier-id", {{"developer", "henbtrust"}, {"build", "pve-1"}}},
      {"ear.status", "contraindicated"},
      {"ear.trustworthiness-vector",
       {{"instance-identity", 2}, {"executables", 33}, {"hardware", 2}}},
      {"eat_nonce", Base64UrlEncode(nonce_)},
      {"ear.appraisal-policy-id", r.policy_id},
      {"submods", nlohmann::ordered_json::object()},
      {"henbtrust.device-id", "henb-1"},
      {"henbtrust.release", r.release_version},
      {"henbtrust.tim", HexEncode(r.tim)},
      {"henbtrust.components", nlohmann::ordered_json::array()}};
  for (const auto& [name, status] : r.submodules)
    expected["submods"][name] = {{"ear.status", ArStatusName(status)}};
  for (const auto& c : r.components) {
    nlohmann::ordered_json v = {
        {"id", c.id}, {"version", c.version}, {"ear.status", ArStatusName(c.status)}};
    if (!c.detail.empty()) v["detail"] = c.detail;
    expected["henbtrust.components"].push_back(v);
  }
  expected["henbtrust.detail"] = r.detail;
  ASSERT_FALSE(r.detail.empty());
  EXPECT_EQ(*claims, expected.dump());
  EXPECT_EQ(j.at("ear.status"), "contraindicated");
  EXPECT_EQ(j.at("submods").at("os").at("ear.status"), "contraindicated");
  EXPECT_EQ(j.at("eat_nonce"), Base64UrlEncode(nonce_));
  EXPECT_EQ(j.at("henbtrust.device-id"), "henb-1");

  // The reader gives back what was written.
  auto read = VerifyEar(*token, key->Public());
  ASSERT_TRUE(read.ok()) << read.error().ToString();
  EXPECT_EQ(read->status, ArStatus::kContraindicated);
  EXPECT_EQ(read->vector, r.vector);
  EXPECT_EQ(read->nonce, nonce_);
  EXPECT_EQ(read->issued_at, r.issued_at);
  EXPECT_EQ(read->verifier_build, "pve-1");
  EXPECT_EQ(read->policy_id, r.policy_id);
  EXPECT_EQ(read->submods, r.submodules);
  EXPECT_EQ(read->device_id, "henb-1");
  EXPECT_EQ(read->release_version, r.release_version);
  EXPECT_EQ(read->tim_hex, HexEncode(r.tim));
  EXPECT_EQ(read->detail, r.detail);
  std::string tampered = *token;
  tampered[tampered.find('.') + 5] ^= 1;
  EXPECT_FALSE(VerifyEar(tampered, key->Public()).ok());
  EXPECT_FALSE(VerifyEar(*token, PrivateKey::Generate(KeyType::kEcP256)->Public()).ok());
  EXPECT_FALSE(VerifyEar("a.b", key->Public()).ok());
}

// Claims signed by the right key but not as EncodeEar writes them are
// refused by name, and so is a status more trusting than its vector.
TEST(EarClaims, WhatIsNotAnEarAsWrittenIsMalformed) {
  const nlohmann::json good = {
      {"iat", 1700000000},
      {"ear.verifier-id", {{"developer", "henbtrust"}, {"build", "pve-1"}}},
      {"ear.status", "warning"},
      {"ear.trustworthiness-vector", {{"executables", 32}, {"configuration", 2}}},
      {"eat_nonce", Base64UrlEncode(Bytes{1, 2, 3})},
      {"ear.appraisal-policy-id", "p"},
      {"submods", {{"os", {{"ear.status", "warning"}}}}},
      {"henbtrust.device-id", "henb-1"}};
  auto read = DecodeEarClaims(good.dump());
  ASSERT_TRUE(read.ok()) << read.error().ToString();
  EXPECT_EQ(read->vector.Get(TrustClaim::kExecutables), ar4si::kUnsafeRuntime);
  EXPECT_EQ(read->submods.at("os"), ArStatus::kWarning);
  EXPECT_EQ(read->nonce, (Bytes{1, 2, 3}));

  const std::vector<std::pair<std::string, nlohmann::json>> bad = {
      {"ear.status", "fine"},
      {"ear.status", "affirming"},  // its vector has a warning
      {"ear.trustworthiness-vector", {{"executables", 300}}},
      {"ear.trustworthiness-vector", {{"executable", 2}}},
      {"ear.trustworthiness-vector", {{"executables", "2"}}},
      {"ear.trustworthiness-vector", nlohmann::json::array()},
      {"eat_nonce", "not base64url!"},
      {"iat", "now"},
      {"submods", {{"os", "warning"}}},
      {"henbtrust.device-id", 7},
      {"ear.verifier-id", "pve-1"}};
  for (const auto& [name, value] : bad) {
    nlohmann::json claims = good;
    claims[name] = value;
    auto r = DecodeEarClaims(claims.dump());
    ASSERT_FALSE(r.ok()) << name << " = " << value.dump();
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
    EXPECT_NE(r.error().message().find(name.substr(0, 8)), std::string::npos)
        << r.error().ToString();
  }
  for (const char* name : {"ear.status", "ear.trustworthiness-vector", "eat_nonce", "iat",
                           "submods", "henbtrust.device-id", "ear.verifier-id"}) {
    nlohmann::json claims = good;
    claims.erase(name);
    EXPECT_FALSE(DecodeEarClaims(claims.dump()).ok()) << name;
  }
  EXPECT_FALSE(DecodeEarClaims("[]").ok());
  EXPECT_FALSE(DecodeEarClaims("{").ok());
}

}  // namespace
}  // namespace henbtrust
