// The PVE protocol's codecs: what an encoder writes its decoder reads back,
// nlohmann reads the same document, and every decoder answers any input
// (a member missing, null, of another type, too long; not JSON at all) with
// an error value, never an exception.
#include "henbtrust/net/pve_protocol.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

namespace henbtrust {
namespace {

using Json = nlohmann::json;

Bytes Filled(size_t n, uint8_t byte) { return Bytes(n, byte); }

NonceAnswer SomeNonce() { return {Filled(32, 7), 1795924757, "sha256:0,2,3,4"}; }

AttestationResultAnswer SomeResult() {
  AttestationResultAnswer r;
  r.attestation_result = "eyJhbGciOiJFUzI1NiJ9.e30.c2ln";
  r.components = {{"bootloader", "affirming", "1.0"}, {"kernel", "contraindicated", "2.0", "bad"}};
  r.detail = "one component was modified";
  r.device_id = "henb-a";
  r.next_nonce = SomeNonce();
  r.release = "2.0";
  r.status = "contraindicated";
  r.submods = {{"firmware", "contraindicated"}};
  r.tim = std::string(64, 'a');
  r.vector.Set(TrustClaim::kInstanceIdentity, ar4si::kTrustworthyInstance);
  r.vector.Set(TrustClaim::kExecutables, ar4si::kUnrecognizedRuntime);
  r.vector.Set(TrustClaim::kHardware, -2);  // a negative value of the affirming tier
  return r;
}

TrustVector SomeVector() {
  TrustVector v;
  v.Set(TrustClaim::kConfiguration, ar4si::kUnsupportableConfig);
  v.Set(TrustClaim::kExecutables, ar4si::kUnsafeRuntime);
  return v;
}

TEST(PveProtocol, NonceAnswerRoundTrips) {
  const NonceAnswer n = SomeNonce();
  const std::string text = EncodeNonceAnswer(n);
  const Json doc = Json::parse(text);
  EXPECT_EQ(doc["expires_at"], n.expires_at);
  EXPECT_EQ(doc["pcr_selection"], n.pcr_selection);
  auto back = DecodeNonceAnswer(text);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->nonce, n.nonce);
  EXPECT_EQ(back->expires_at, n.expires_at);
  EXPECT_EQ(back->pcr_selection, n.pcr_selection);
}

TEST(PveProtocol, EvidenceRoundTripsAndReadsAsNlohmannWritesIt) {
  EvidenceMessage e{Filled(32, 1), Filled(100, 2), Filled(70, 3), Filled(500, 4), "henb-a"};
  const std::string text = EncodeEvidence(e);
  const Json doc = Json::parse(text);
  EXPECT_EQ(text, doc.dump());  // members in nlohmann's order, no escapes
  auto back = DecodeEvidence(doc);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->nonce, e.nonce);
  EXPECT_EQ(back->attest, e.attest);
  EXPECT_EQ(back->signature, e.signature);
  EXPECT_EQ(back->event_log, e.event_log);
  EXPECT_EQ(back->device_id, e.device_id);
  auto answer = DecodeEvidenceAnswer(text);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->attest, e.attest);
  EXPECT_FALSE(DecodeEvidenceAnswer("<html>").ok());
}

TEST(PveProtocol, RequestsRoundTrip) {
  auto pull = DecodeIntegrityRequest(EncodeIntegrityRequest({Filled(32, 9), "sha256:0"}));
  ASSERT_TRUE(pull.ok());
  EXPECT_EQ(pull->nonce, Filled(32, 9));
  EXPECT_EQ(pull->pcr_selection, "sha256:0");

  UpdateAppraisalRequest u{"henb-fw", "2.0", {Filled(16, 1), Filled(10, 2), Filled(10, 3), {}}};
  auto update = DecodeUpdateAppraisalRequest(Json::parse(EncodeUpdateAppraisalRequest(u)));
  ASSERT_TRUE(update.ok()) << update.error().ToString();
  EXPECT_EQ(update->release_id, "henb-fw");
  EXPECT_EQ(update->version, "2.0");
  EXPECT_EQ(update->evidence.nonce, u.evidence.nonce);
  u.evidence.nonce.resize(kMinOrderNonceBytes - 1);
  EXPECT_FALSE(DecodeUpdateAppraisalRequest(Json::parse(EncodeUpdateAppraisalRequest(u))).ok());

  auto config = DecodeConfiguration(Json::parse(EncodeConfiguration({"d", "henb-fw", "2.0"})));
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->device_id, "d");
  EXPECT_EQ(config->release_id, "henb-fw");

  auto revocation = DecodeRevocationRequest(Json::parse(EncodeRevocationRequest({"CVE-2026-1"})));
  ASSERT_TRUE(revocation.ok());
  EXPECT_EQ(revocation->reason, "CVE-2026-1");
  EXPECT_FALSE(DecodeRevocationRequest(Json::parse(EncodeRevocationRequest({""}))).ok());
  EXPECT_FALSE(DecodeRevocationRequest(
                   Json::parse(EncodeRevocationRequest({std::string(kMaxReasonBytes + 1, 'x')})))
                   .ok());
}

TEST(PveProtocol, AttestationResultRoundTripsWithItsIdAndNextNonce) {
  const AttestationResultAnswer r = SomeResult();
  auto text = EncodeAttestationResult(r);
  ASSERT_TRUE(text.ok());
  const std::string body = text->With(42);
  const Json doc = Json::parse(body);
  EXPECT_EQ(body, doc.dump());  // what nlohmann writes for the same members
  auto back = DecodeAttestationResult(body);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->appraisal_id, 42);
  EXPECT_EQ(back->status, r.status);
  EXPECT_EQ(back->tim, r.tim);
  EXPECT_EQ(back->components.size(), 2u);
  EXPECT_EQ(back->components[1].detail, "bad");
  EXPECT_EQ(back->submods, r.submods);
  EXPECT_EQ(back->vector, r.vector);
  EXPECT_EQ(doc["trustworthiness_vector"]["executables"], 33);
  ASSERT_TRUE(back->next_nonce.has_value());
  EXPECT_EQ(back->next_nonce->nonce, r.next_nonce->nonce);
  auto next = DecodeNextNonce(body);
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->expires_at, r.next_nonce->expires_at);

  AttestationResultAnswer refused = r;
  refused.next_nonce.reset();
  refused.error_code = "quote.signature";
  refused.error_message = "the quote's signature does not verify";
  auto refused_text = EncodeAttestationResult(refused);
  ASSERT_TRUE(refused_text.ok());
  auto refused_back = DecodeAttestationResult(refused_text->With(7));
  ASSERT_TRUE(refused_back.ok());
  EXPECT_EQ(refused_back->error_code, "quote.signature");
  auto none = DecodeNextNonce(refused_text->With(7));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  AttestationResultAnswer bad = r;
  bad.detail = "\xff";
  EXPECT_FALSE(EncodeAttestationResult(bad).ok());
}

TEST(PveProtocol, LatestResultAndAccessDecisionRoundTrip) {
  auto latest = DecodeLatestResult(
      EncodeLatestResult({"henb-a", 3, "contraindicated", 1700, "tok", SomeVector()}));
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->appraisal_id, 3);
  EXPECT_EQ(latest->appraised_at, 1700);
  EXPECT_EQ(latest->vector, SomeVector());

  auto list = DecodeAppraisalList(
      EncodeAppraisalList({{{"henb-a", 3, "affirming", 1700, "tok", SomeVector()}, *latest}, "7"}));
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->items[1].status, "contraindicated");
  EXPECT_EQ(list->items[0].vector, SomeVector());
  EXPECT_EQ(list->next, "7");
  EXPECT_EQ(DecodeAppraisalList(R"({"appraisals":[1]})").error().code(), ErrorCode::kNetStatus);
  EXPECT_EQ(DecodeAppraisalList(R"({"appraisals":[],"next":null})")->next, "");

  AccessDecisionAnswer a{
      "henb-a", "quarantine", "release 1.0 is revoked", "0a", "warning", 5, 9, SomeVector(), 120};
  auto back = DecodeAccessDecision(EncodeAccessDecision(a));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->decision, "quarantine");
  EXPECT_EQ(back->certificate_serial, "0a");
  EXPECT_EQ(back->status, "warning");
  EXPECT_EQ(back->appraisal_id, 9);
  EXPECT_EQ(back->vector, SomeVector());
  EXPECT_EQ(back->max_age, 120);
  AccessDecisionAnswer unknown{"ghost", "quarantine", "not enrolled"};
  auto ghost = DecodeAccessDecision(EncodeAccessDecision(unknown));
  ASSERT_TRUE(ghost.ok());
  EXPECT_FALSE(ghost->certificate_serial.has_value());
  EXPECT_FALSE(ghost->status.has_value());
}

TEST(PveProtocol, ErrorAnswers) {
  auto e = DecodeErrorAnswer(R"({"error":{"code":"policy.nonce","message":"used"}})");
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, "policy.nonce");
  for (const char* text : {"", "null", "[]", R"({"error":1})", R"({"error":{"code":7}})",
                           R"({"error":{"code":null,"message":[]}})"}) {
    if (auto got = DecodeErrorAnswer(text)) {
      EXPECT_NE(got->code, "policy.nonce") << text;
    }
  }
}

// What a bad member of an answer is made of.
struct Mutation {
  const char* name;
  std::function<void(Json& object, const std::string& member)> apply;
};

std::vector<Mutation> Mutations() {
  return {
      {"missing", [](Json& o, const std::string& m) { o.erase(m); }},
      {"null", [](Json& o, const std::string& m) { o[m] = nullptr; }},
      {"number", [](Json& o, const std::string& m) { o[m] = 12345; }},
      {"float", [](Json& o, const std::string& m) { o[m] = 1.5; }},
      {"string", [](Json& o, const std::string& m) { o[m] = "x"; }},
      {"array",
       [](Json& o, const std::string& m) {
         o[m] = Json::array({1, "a"});
       }},
      {"object",
       [](Json& o, const std::string& m) {
         o[m] = Json{{"a", 1}};
       }},
      {"huge", [](Json& o, const std::string& m) { o[m] = std::string(2 << 20, 'A'); }},
      {"huge number", [](Json& o, const std::string& m) { o[m] = 18446744073709551615ull; }},
  };
}

// A decoder with, for each member of a good answer, whether the answer
// without that member (or with it null) is still good: an optional member.
struct AnswerCase {
  const char* message;
  std::string good;  // a good answer's text
  std::function<bool(std::string_view)> decodes;
  std::vector<std::string> optional_members;
  // Members read as "not said" whatever their value: a nonce's expires_at,
  // which when it is not an integer makes the device fetch a fresh nonce.
  std::vector<std::string> lenient_members = {};
};

std::vector<AnswerCase> AnswerCases() {
  auto result = *EncodeAttestationResult(SomeResult());
  return {
      {"nonce answer",
       EncodeNonceAnswer(SomeNonce()),
       [](std::string_view t) { return DecodeNonceAnswer(t).ok(); },
       {},
       {"expires_at"}},
      {"next nonce",
       EncodeNonceAnswer(SomeNonce()),
       [](std::string_view t) {
         // The nonce object inside a result.
         auto r = DecodeNextNonce(std::string(R"({"status":"affirming","next_nonce":)") +
                                  std::string(t) + "}");
         return r.ok() && r->has_value();
       },
       {},
       {"expires_at"}},
      {"attestation result",
       result.With(11),
       [](std::string_view t) { return DecodeAttestationResult(t).ok(); },
       {"components", "detail", "error", "next_nonce", "release", "submods",
        "trustworthiness_vector"}},
      {"latest result",
       EncodeLatestResult({"henb-a", 3, "affirming", 1700, "tok", SomeVector()}),
       [](std::string_view t) { return DecodeLatestResult(t).ok(); },
       {"trustworthiness_vector"}},
      {"appraisal list",
       EncodeAppraisalList({{{"henb-a", 3, "affirming", 1700, "tok", SomeVector()}}, "3"}),
       [](std::string_view t) { return DecodeAppraisalList(t).ok(); },
       {"next", "trustworthiness_vector"}},
      {"access decision",
       EncodeAccessDecision({"henb-a", "admit", "ok", "0a", "affirming", 5, 9, SomeVector(), 300}),
       [](std::string_view t) { return DecodeAccessDecision(t).ok(); },
       {"certificate_serial", "max_age", "status", "trustworthiness_vector"}},
      {"evidence answer",
       EncodeEvidence({Filled(32, 1), Filled(64, 2), Filled(64, 3), {}}),
       [](std::string_view t) { return DecodeEvidenceAnswer(t).ok(); },
       {"event_log", "device_id"}},
  };
}

TEST(PveProtocol, EveryBadMemberOfEveryAnswerIsAnErrorNeverAThrow) {
  for (const AnswerCase& c : AnswerCases()) {
    SCOPED_TRACE(c.message);
    ASSERT_TRUE(c.decodes(c.good)) << c.good;
    const Json good = Json::parse(c.good);
    for (const auto& [member, value] : good.items()) {
      for (const Mutation& m : Mutations()) {
        Json bad = good;
        m.apply(bad, member);
        const std::string text = bad.dump();
        bool ok = false;
        EXPECT_NO_THROW(ok = c.decodes(text)) << member << " " << m.name;
        auto listed = [&member](const std::vector<std::string>& list) {
          return std::find(list.begin(), list.end(), member) != list.end();
        };
        const bool optional = listed(c.optional_members);
        const bool absent = std::string(m.name) == "missing" || std::string(m.name) == "null";
        // A string member may take "x" or 12345 as text of its own; every
        // other change to a required member is refused.
        const bool may_pass = listed(c.lenient_members) || (optional && absent) ||
                              (value.is_string() && m.name == std::string("string")) ||
                              (value.is_number() && (m.name == std::string("number")));
        if (!may_pass) {
          EXPECT_FALSE(ok) << member << " " << m.name;
        }
      }
    }
    for (const char* text :
         {"", "not json", "[]", "null", "17", "\"x\"", "{", "{}",
          "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"}) {
      bool ok = true;
      EXPECT_NO_THROW(ok = c.decodes(text)) << text;
      EXPECT_FALSE(ok) << text;
    }
  }
}

}  // namespace
}  // namespace henbtrust
