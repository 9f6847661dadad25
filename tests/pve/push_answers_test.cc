// A device's push reads the PVE's answers through the protocol codecs: an
// answer with any member missing, null, of another type or too long, or no
// JSON at all, is an error value (or no next nonce), never an exception, and
// the device goes on.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <mutex>

#include "henbtrust/agent/agent.h"
#include "henbtrust/net/pve_protocol.h"
#include "pve/pve_harness.h"

namespace henbtrust {
namespace {

using Json = nlohmann::json;
using testing::PveHarness;

// Every way of spoiling one member of a good answer.
std::vector<std::string> Spoiled(const std::string& good_text) {
  const Json good = Json::parse(good_text);
  std::vector<std::string> out;
  for (const auto& [member, value] : good.items()) {
    const std::vector<Json> replacements = {nullptr,
                                            12345,
                                            -1,
                                            1.5,
                                            18446744073709551615ull,
                                            "x",
                                            Json::array({1}),
                                            Json{{"a", 1}},
                                            std::string(1 << 20, 'A')};
    Json without = good;
    without.erase(member);
    out.push_back(without.dump());
    for (const Json& r : replacements) {
      Json bad = good;
      bad[member] = r;
      out.push_back(bad.dump());
    }
  }
  for (const char* text : {"", "not json", "[]", "null", "17", "{", "{}", "\"text\""})
    out.emplace_back(text);
  return out;
}

const std::string kGoodNonce =
    EncodeNonceAnswer({Bytes(32, 5), 1'900'000'000, "sha256:0,1,2,3,4,5,6,7"});

// An affirming result of appraisal 1 with a next nonce: what the PVE answers
// a push.
std::string GoodResult() {
  AttestationResultAnswer result;
  result.attestation_result = "a.b.c";
  result.device_id = "henb-a";
  result.status = "affirming";
  result.next_nonce = DecodeNonceAnswer(kGoodNonce).value();
  return EncodeAttestationResult(result)->With(1);
}

TEST(PushAnswers, NonceFromAnswerReadsEveryBadAnswerAsAnError) {
  ASSERT_TRUE(NonceFromAnswer(kGoodNonce).ok());
  int refused = 0;
  for (const std::string& text : Spoiled(kGoodNonce)) {
    Result<PushNonce> got = Error(ErrorCode::kInternal, "not called");
    EXPECT_NO_THROW(got = NonceFromAnswer(text)) << text.substr(0, 100);
    if (!got.ok()) {
      ++refused;
      EXPECT_EQ(got.error().code() == ErrorCode::kNetStatus ||
                    LayerOf(got.error().code()) == ErrorLayer::kTpm ||
                    got.error().code() == ErrorCode::kMalformed ||
                    got.error().code() == ErrorCode::kInvalidArgument,
                true)
          << got.error().ToString();
      continue;
    }
    // Only expires_at may be spoiled and still give a nonce: one that is
    // not reused (expires_at 0), or a selection that still parses.
    const Json doc = Json::parse(text, nullptr, false);
    ASSERT_TRUE(doc.is_object()) << text.substr(0, 100);
    EXPECT_EQ(doc["nonce"], Json::parse(kGoodNonce)["nonce"]) << text.substr(0, 100);
  }
  EXPECT_GT(refused, 20);
}

TEST(PushAnswers, NextNonceFromResultGivesNoNonceForEveryBadOne) {
  const std::string good = GoodResult();
  ASSERT_TRUE(NextNonceFromResult(good).has_value());
  // Spoil the result's members, and the next nonce's own.
  for (const std::string& text : Spoiled(good)) {
    EXPECT_NO_THROW((void)NextNonceFromResult(text)) << text.substr(0, 100);
  }
  const Json doc = Json::parse(good);
  int none = 0;
  for (const std::string& nonce : Spoiled(kGoodNonce)) {
    for (bool escaped : {false, true}) {  // the quick reader, and nlohmann
      const std::string text = std::string("{\"a\":\"") + (escaped ? "\\u0078" : "x") +
                               "\",\"next_nonce\":" + (nonce.empty() ? "}" : nonce + "}");
      std::optional<PushNonce> got;
      EXPECT_NO_THROW(got = NextNonceFromResult(text)) << text.substr(0, 100);
      if (!got) ++none;
    }
  }
  EXPECT_GT(none, 40);
  (void)doc;
}

// AttestOnce against a PVE that answers badly: an error or the PVE's answer,
// never an exception, and no nonce kept from a bad result.
class PushAgainstABadPve : public ::testing::Test {
 protected:
  void SetUp() override {
    device_ = h_.Enrolled("henb-a");
    ASSERT_TRUE(device_.client);
    auto server = HttpServer::Start({}, h_.pve->server_tls, [this](const HttpRequest& r) {
      std::lock_guard<std::mutex> lock(mu_);
      if (r.target == "/v1/nonces")
        return HttpResponse{nonce_status_, "application/json", nonce_, {}};
      return HttpResponse{200, "application/json", result_, {}};
    });
    ASSERT_TRUE(server.ok()) << server.error().ToString();
    server_ = std::move(server).value();
    auto client = HttpClient::Connect("127.0.0.1", server_->port(), DeviceTls(device_.credentials));
    ASSERT_TRUE(client.ok()) << client.error().ToString();
    client_ = std::move(client).value();
  }

  void Answer(int nonce_status, std::string nonce, std::string result) {
    std::lock_guard<std::mutex> lock(mu_);
    nonce_status_ = nonce_status;
    nonce_ = std::move(nonce);
    result_ = std::move(result);
  }

  PveHarness h_;
  PveHarness::Device device_;
  std::mutex mu_;
  int nonce_status_ = 200;
  std::string nonce_;
  std::string result_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(PushAgainstABadPve, ABadNonceAnswerIsAnError) {
  for (const std::string& nonce : Spoiled(kGoodNonce)) {
    Answer(200, nonce, "{}");
    PushNonce held;
    Result<HttpResponse> got = Error(ErrorCode::kInternal, "not called");
    EXPECT_NO_THROW(got = AttestOnce(*client_, *device_.tre, false, &held)) << nonce.substr(0, 80);
    if (!got.ok()) {
      EXPECT_TRUE(held.nonce.empty());
    }
  }
  for (const char* refusal : {"", "{\"error\":1}", "{\"error\":{\"code\":[1]}}", "<html>"}) {
    Answer(409, refusal, "{}");
    auto got = AttestOnce(*client_, *device_.tre, false);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().code(), ErrorCode::kNetStatus);
  }
}

TEST_F(PushAgainstABadPve, ABadResultKeepsNoNextNonce) {
  const std::string good = GoodResult();
  Answer(200, kGoodNonce, good);
  PushNonce held;
  ASSERT_TRUE(AttestOnce(*client_, *device_.tre, false, &held).ok());
  EXPECT_FALSE(held.nonce.empty());
  Json spoiled = Json::parse(good);
  for (const Json& bad : {Json(nullptr), Json(7), Json("x"), Json::array(), Json{{"nonce", 1}}}) {
    spoiled["next_nonce"] = bad;
    Answer(200, kGoodNonce, spoiled.dump());
    held = {};
    auto got = AttestOnce(*client_, *device_.tre, false, &held);
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    EXPECT_TRUE(held.nonce.empty()) << bad.dump();
  }
  Answer(200, kGoodNonce, "not json");
  held = {};
  ASSERT_TRUE(AttestOnce(*client_, *device_.tre, false, &held).ok());
  EXPECT_TRUE(held.nonce.empty());
}

}  // namespace
}  // namespace henbtrust
