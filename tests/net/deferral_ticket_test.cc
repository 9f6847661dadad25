// The deferral ticket's codec: what it signs, and every way a text fails to
// be a ticket for this device.
#include "henbtrust/net/deferral_ticket.h"

#include <gtest/gtest.h>

#include "henbtrust/crypto/jws.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/net/ticket_protocol.h"
#include "support/bad_json.h"

namespace henbtrust {
namespace {

class DeferralTicketTest : public ::testing::Test {
 protected:
  DeferralTicket Defer() {
    return DeferralTicket{"henb-0001", Bytes(32, 1), TicketVerdict::kDefer, 42, Bytes(32, 9), 3600,
                          "",          1700000000};
  }
  PrivateKey key_ = *PrivateKey::Generate(KeyType::kEcP256);
};

TEST_F(DeferralTicketTest, RoundTripsBothVerdicts) {
  auto token = SignDeferralTicket(Defer(), key_);
  ASSERT_TRUE(token.ok()) << token.error().ToString();
  auto t = VerifyDeferralTicket(*token, key_.Public(), "henb-0001");
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t->verdict, TicketVerdict::kDefer);
  EXPECT_EQ(t->appraisal, 42);
  EXPECT_EQ(t->tim, Bytes(32, 9));
  EXPECT_EQ(t->period, 3600);
  EXPECT_EQ(t->nonce, Bytes(32, 1));

  DeferralTicket refusal{"henb-0001",          Bytes(32, 2), TicketVerdict::kRecover, 0, {}, 0,
                         "open recover job 7", 1700000000};
  auto signed_refusal = SignDeferralTicket(refusal, key_);
  ASSERT_TRUE(signed_refusal.ok());
  auto r = VerifyDeferralTicket(*signed_refusal, key_.Public(), "henb-0001");
  ASSERT_TRUE(r.ok()) << r.error().ToString();
  EXPECT_EQ(r->verdict, TicketVerdict::kRecover);
  EXPECT_EQ(r->reason, "open recover job 7");
}

TEST_F(DeferralTicketTest, RefusesAnotherKeyAnotherDeviceAndOtherTokens) {
  const std::string token = *SignDeferralTicket(Defer(), key_);
  const PrivateKey other = *PrivateKey::Generate(KeyType::kEcP256);
  EXPECT_EQ(VerifyDeferralTicket(token, other.Public(), "henb-0001").error().code(),
            ErrorCode::kPolicyTicket);
  EXPECT_EQ(VerifyDeferralTicket(token, key_.Public(), "henb-0002").error().code(),
            ErrorCode::kPolicyTicket);
  // A deployment order under the same key is not a ticket.
  DeploymentOrder order{
      7, AgentAction::kInstall, "henb-0001", "henb-fw", "2.0", Bytes(32, 9), Bytes(16, 3), 1, 2};
  const std::string order_token = *SignDeploymentOrder(order, key_);
  auto as_ticket = VerifyDeferralTicket(order_token, key_.Public(), "henb-0001");
  ASSERT_FALSE(as_ticket.ok());
  EXPECT_EQ(as_ticket.error().code(), ErrorCode::kPolicyTicket);
  // Nor is the ticket an order.
  EXPECT_FALSE(VerifyDeploymentOrder(token, key_.Public(), "henb-0001", 1).ok());
  EXPECT_FALSE(VerifyDeferralTicket("not a jws", key_.Public(), "henb-0001").ok());
  EXPECT_FALSE(
      VerifyDeferralTicket(std::string(kMaxTicketBytes + 1, 'a'), key_.Public(), "henb-0001").ok());
}

TEST_F(DeferralTicketTest, RefusesClaimsOutOfRange) {
  auto claims = [&](const std::string& json) {
    auto token = SignJwsEs256(json, key_);
    EXPECT_TRUE(token.ok());
    return VerifyDeferralTicket(*token, key_.Public(), "henb-0001");
  };
  const std::string nonce = Base64UrlEncode(Bytes(32, 1));
  const std::string head = R"({"typ":"henbtrust-deferral-ticket","device_id":"henb-0001",)";
  EXPECT_TRUE(claims(head + R"("nonce":")" + nonce +
                     R"(","verdict":"defer","iat":1,"appraisal":1,"tim":")" + std::string(64, 'a') +
                     R"(","period":60})")
                  .ok());
  // A period beyond 30 days, a short nonce, a short TIM, an unknown verdict.
  for (const std::string& bad :
       {head + R"("nonce":")" + nonce + R"(","verdict":"defer","iat":1,"appraisal":1,"tim":")" +
            std::string(64, 'a') + R"(","period":2592001})",
        head + R"("nonce":"AQID","verdict":"defer","iat":1,"appraisal":1,"tim":")" +
            std::string(64, 'a') + R"(","period":60})",
        head + R"("nonce":")" + nonce +
            R"(","verdict":"defer","iat":1,"appraisal":1,"tim":"aa","period":60})",
        head + R"("nonce":")" + nonce + R"(","verdict":"forever","iat":1})"}) {
    auto t = claims(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_EQ(t.error().code(), ErrorCode::kPolicyTicket) << bad;
  }
  // Nor will the OAM sign one.
  DeferralTicket t = Defer();
  t.period = kMaxTicketPeriodSeconds + 1;
  EXPECT_FALSE(SignDeferralTicket(t, key_).ok());
}

// The watchdog's request and answer codecs (net/ticket_protocol.h): a round
// trip, and every spoiled variant of a good message is an error value or a
// message within its bounds, never an exception.
TEST(TicketProtocol, RoundTripsAndSurvivesEveryBadVariant) {
  TicketRequest request{Bytes(32, 4), "recovery", "watchdog expired", Bytes(32, 5)};
  request.recovery_release_id = "henb-fw";
  request.recovery_version = "1.0";
  request.evidence = R"({"attest":"AAAA","signature":"AAAA","nonce":"AAAA"})";
  const std::string text = EncodeTicketRequest(request);
  auto back = DecodeTicketRequest(text);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->nonce, request.nonce);
  EXPECT_EQ(back->mode, "recovery");
  EXPECT_EQ(back->local_tim, request.local_tim);
  EXPECT_EQ(back->recovery_release_id, "henb-fw");
  EXPECT_EQ(nlohmann::json::parse(back->evidence), nlohmann::json::parse(request.evidence));
  for (const auto& bad : testing::BadVariants(text)) {
    auto decoded = DecodeTicketRequest(bad.text);
    if (decoded.ok()) {
      EXPECT_EQ(decoded->nonce.size(), kTicketNonceBytes) << bad.what;
      EXPECT_TRUE(decoded->local_tim.empty() || decoded->local_tim.size() == 32) << bad.what;
    } else {
      EXPECT_EQ(decoded.error().code(), ErrorCode::kNetBadRequest) << bad.what;
    }
  }
  EXPECT_FALSE(DecodeTicketRequest(R"({"nonce":"AQ","mode":"normal"})").ok());
  EXPECT_FALSE(DecodeTicketRequest(EncodeTicketRequest({Bytes(32, 1), "asleep", "", {}})).ok());

  const TicketAnswer answer{TicketVerdict::kDefer, "a.b.c", 600, 1700000600, 0, "deferred"};
  const std::string answer_text = EncodeTicketAnswer(answer);
  auto answer_back = DecodeTicketAnswer(answer_text);
  ASSERT_TRUE(answer_back.ok()) << answer_back.error().ToString();
  EXPECT_EQ(answer_back->period, 600);
  EXPECT_EQ(answer_back->deadline, 1700000600);
  for (const auto& bad : testing::BadVariants(answer_text)) {
    auto decoded = DecodeTicketAnswer(bad.text);
    if (decoded.ok()) {
      EXPECT_LE(decoded->ticket.size(), kMaxTicketBytes) << bad.what;
    } else {
      EXPECT_EQ(decoded.error().code(), ErrorCode::kNetBadRequest) << bad.what;
    }
  }
}

}  // namespace
}  // namespace henbtrust
