#include "henbtrust/core/json_text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace henbtrust {
namespace {

// nlohmann::json is the independent reference: the same text for every
// string it accepts, and a refusal for every string it refuses.
TEST(JsonText, StringsAreWhatNlohmannWrites) {
  std::vector<std::string> cases = {"",
                                    "plain",
                                    "quote \" and backslash \\",
                                    "tab\tnew\nline\r",
                                    "\b\f",
                                    std::string("nul\0byte", 8),
                                    "\x7f del",
                                    "é ü",
                                    "€ and 𝄞",
                                    "</script>"};
  for (int c = 0; c < 0x20; ++c) cases.push_back(std::string(1, static_cast<char>(c)));
  for (const std::string& s : cases) {
    std::string out = "x";
    ASSERT_TRUE(AppendJsonString(out, s)) << s;
    EXPECT_EQ(out, "x" + nlohmann::json(s).dump()) << s;
  }
}

// Plain text is scanned eight bytes at a time: a byte to escape (or to
// check as UTF-8) is found at every place in and around those words, in
// writing and in reading.
TEST(JsonText, EveryByteToEscapeIsFoundWhereverItIs) {
  const std::vector<std::string> specials = {"\"",   "\\",   "\n",       std::string(1, '\0'),
                                             "\x1f", "\x7f", "\xc3\xa9", "\xff"};
  for (size_t at = 0; at <= 24; ++at) {
    // Plain text of every length is written as it is and read back.
    const std::string plain = std::string(at, 'a') + "+/=~ ";
    std::string out;
    ASSERT_TRUE(AppendJsonString(out, plain));
    EXPECT_EQ(out, '"' + plain + '"');
    const auto read = ParseFlatStringObject("{\"k\":" + out + "}");
    ASSERT_TRUE(read.has_value()) << at;
    EXPECT_EQ(read->front().second, plain);
    for (const std::string& special : specials) {
      const std::string s = std::string(at, 'a') + special + std::string(24 - at, 'b');
      out.clear();
      if (special == "\xff") {
        EXPECT_FALSE(AppendJsonString(out, s)) << at;
        continue;
      }
      ASSERT_TRUE(AppendJsonString(out, s)) << at;
      EXPECT_EQ(out, nlohmann::json(s).dump()) << at;
      // Each is escaped, or raw but outside 0x20-0x7E: the quick reader
      // leaves every one to the full parser.
      EXPECT_FALSE(ParseFlatStringObject("{\"k\":" + out + "}").has_value()) << at;
    }
  }
}

TEST(JsonText, InvalidUtf8IsRefusedLikeNlohmannRefusesIt) {
  for (const std::string& s :
       {std::string("\xc0\x80"), std::string("\xed\xa0\x80"), std::string("\xf5\x80\x80\x80"),
        std::string("\xe2\x82"), std::string("ok \xff"), std::string("\x80"),
        std::string("\xf4\x90\x80\x80")}) {
    std::string out = "kept";
    EXPECT_FALSE(AppendJsonString(out, s));
    EXPECT_EQ(out, "kept");  // nothing appended
    EXPECT_THROW((void)nlohmann::json(s).dump(), nlohmann::json::type_error);
  }
}

TEST(JsonText, ObjectsNestAndLeaveOutWhatIsNotUtf8) {
  std::string out;
  JsonObjectWriter w(out);
  w.String("a", "1").Int("n", -42);
  w.Key("inner");
  {
    JsonObjectWriter inner(out);
    inner.String("k", "v").Close();
    EXPECT_TRUE(inner.ok());
  }
  w.Close();
  EXPECT_TRUE(w.ok());
  EXPECT_EQ(out, R"({"a":"1","n":-42,"inner":{"k":"v"}})");
  EXPECT_EQ(nlohmann::json::parse(out)["inner"]["k"], "v");

  std::string bad;
  JsonObjectWriter b(bad);
  b.String("bad", "\xff").String("good", "yes").Close();
  EXPECT_FALSE(b.ok());
  EXPECT_EQ(bad, R"({"good":"yes"})");
}

// What the fast reader returns is what nlohmann reads from the same text: an
// object with exactly those string members.
void ExpectSameAsNlohmann(const std::string& text, const JsonStringMembers& members) {
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << text;
  ASSERT_EQ(doc.size(), members.size()) << text;
  for (const auto& [key, value] : members) {
    ASSERT_TRUE(doc.contains(key)) << text;
    ASSERT_TRUE(doc[key].is_string()) << text;
    EXPECT_EQ(doc[key].get<std::string>(), value) << text;
  }
}

TEST(FlatStringObject, ReadsPlainStringMembersInOrder) {
  const std::string evidence = R"({"attest":"/1RDR4AYACIACw==","event_log":")" +
                               std::string(4096, 'A') +
                               R"(","nonce":"q83vEjRWeJA=","signature":"ABgACwAg"})";
  for (const std::string& text :
       {std::string(R"({"a":"b"})"), std::string("{}"), std::string(" \t\r\n{ } \n"),
        std::string(R"( { "device_id" : "henb-1" , "x":"" } )"), evidence}) {
    auto members = ParseFlatStringObject(text);
    ASSERT_TRUE(members.has_value()) << text;
    ExpectSameAsNlohmann(text, *members);
  }
  auto m = ParseFlatStringObject(R"({"z":"1","a":"2"})");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(*m, (JsonStringMembers{{"z", "1"}, {"a", "2"}}));
}

TEST(FlatStringObject, LeavesEverythingElseToTheFullParser) {
  std::string many = "{";
  for (int i = 0; i < 17; ++i) many += (i ? "," : "") + ("\"k" + std::to_string(i) + "\":\"v\"");
  many += "}";
  for (const std::string& text : {std::string(""),
                                  std::string("[]"),
                                  std::string(R"("a")"),
                                  std::string("{"),
                                  std::string(R"({"a":1})"),
                                  std::string(R"({"a":null})"),
                                  std::string(R"({"a":{}})"),
                                  std::string(R"({"a":["b"]})"),
                                  std::string(R"({"a":"b\"c"})"),
                                  std::string(R"({"a":"\u0041"})"),
                                  std::string("{\"a\":\"\xc3\xa9\"}"),
                                  std::string("{\"a\":\"b\tc\"}"),
                                  std::string(R"({"a":"b","a":"c"})"),
                                  std::string(R"({"a":"b",})"),
                                  std::string(R"({"a":"b"} x)"),
                                  std::string(R"({"a" "b"})"),
                                  std::string(R"({"a":"b)"),
                                  std::string(R"({a:"b"})"),
                                  std::string("{\"a\":\"b\"}\v"),
                                  many}) {
    EXPECT_FALSE(ParseFlatStringObject(text).has_value()) << text;
  }
}

// Texts for differential tests: a seed with one to three random single-byte
// insertions, deletions or replacements from `alphabet` (xorshift, so that
// every run tests the same texts).
class Mutator {
 public:
  Mutator(std::vector<std::string> seeds, std::string alphabet, uint64_t state)
      : seeds_(std::move(seeds)), alphabet_(std::move(alphabet)), state_(state) {}

  std::string Next() {
    std::string text = seeds_[Below(seeds_.size())];
    for (size_t edits = 1 + Below(3); edits > 0; --edits) {
      const size_t at = Below(text.size() + 1);
      const char c = alphabet_[Below(alphabet_.size())];
      switch (Below(3)) {
        case 0:
          text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
          break;
        case 1:
          if (at < text.size()) text.erase(at, 1);
          break;
        default:
          if (at < text.size()) text[at] = c;
      }
    }
    return text;
  }

 private:
  size_t Below(size_t n) {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return static_cast<size_t>(state_ % n);
  }
  std::vector<std::string> seeds_;
  std::string alphabet_;
  uint64_t state_;
};

// Mutations of request-like texts: whenever the fast reader answers, it
// agrees with nlohmann; and it answers for most of the texts nlohmann reads
// as flat string objects.
TEST(FlatStringObject, AgreesWithNlohmannOnMutatedTexts) {
  const std::vector<std::string> seeds = {
      R"({"nonce":"q83vEjRW","attest":"/1RDR4AY","signature":"ABgACwAg","event_log":"AAAA"})",
      R"( { "device_id" : "henb-0001" } )", "{}", R"({"a":"","b":" "})"};
  Mutator mutate(seeds, "{}[]:,\"\\ \t\nab01-+.eE\x7f\xc3\xa9", 0x9E3779B97F4A7C15ull);
  int fast = 0, flat = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::string text = mutate.Next();
    const auto members = ParseFlatStringObject(text);
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    bool doc_flat = doc.is_object();
    if (doc_flat) {
      for (const auto& [key, value] : doc.items()) doc_flat = doc_flat && value.is_string();
    }
    if (doc_flat) ++flat;
    if (!members) continue;
    ++fast;
    ExpectSameAsNlohmann(text, *members);
  }
  EXPECT_GT(fast, flat / 2) << fast << " of " << flat;
}

// What a full parser reads for `key` in `text`, as ScanJsonMember reports it.
void ExpectScanAgrees(const std::string& text, const std::string& key) {
  const JsonMemberScan scan = ScanJsonMember(text, key);
  if (!scan.sure) return;
  const auto doc = nlohmann::json::parse(text, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << text;
  ASSERT_EQ(scan.found, doc.contains(key)) << text;
  if (!scan.found) return;
  const auto value = nlohmann::json::parse(scan.value, nullptr, false);
  ASSERT_FALSE(value.is_discarded()) << text;
  EXPECT_EQ(value, doc[key]) << text;
}

const char kAnswer[] =
    R"({"appraisal_id":19,"attestation_result":"eyJhbGciOiJFUzI1NiJ9.eyJpYXQiOjE3fQ.MEUCIQ",)"
    R"("components":[{"name":"shim","submodule":"boot","verdict":"affirming"},)"
    R"({"name":"kernel","submodule":"os","verdict":"affirming"}],"device_id":"load-000020",)"
    R"("next_nonce":{"expires_at":1795924757,"nonce":"AAABoiV1C1RWAkm_tTioh6viTlicLBs3LQnzWorm-Ug",)"
    R"("pcr_selection":"sha256:0,1,2,3,4,5,6,7"},"release":"1.0.0","status":"affirming",)"
    R"("submods":{"boot":"affirming","os":"affirming"},"tim":"a1b2",)"
    R"("x":[-0.5,0,12,true,false,null,[],{}]})";

TEST(JsonMemberScan, FindsAMemberOfAnAnswer) {
  const JsonMemberScan scan = ScanJsonMember(kAnswer, "next_nonce");
  ASSERT_TRUE(scan.sure);
  ASSERT_TRUE(scan.found);
  EXPECT_EQ(nlohmann::json::parse(scan.value), nlohmann::json::parse(kAnswer)["next_nonce"]);
  for (const char* key : {"appraisal_id", "components", "status", "x", "absent", "nonce"})
    ExpectScanAgrees(kAnswer, key);
  const JsonMemberScan absent = ScanJsonMember(kAnswer, "nonce");  // only nested
  EXPECT_TRUE(absent.sure);
  EXPECT_FALSE(absent.found);
  const JsonMemberScan spaced = ScanJsonMember(" { \"a\" : [ 1 , { } ] } \n", "a");
  ASSERT_TRUE(spaced.sure && spaced.found);
  EXPECT_EQ(spaced.value, "[ 1 , { } ]");
}

TEST(JsonMemberScan, LeavesEverythingElseToTheFullParser) {
  const std::string deep =
      std::string(R"({"a":)") + std::string(32, '[') + std::string(32, ']') + "}";
  const std::string shallow =
      std::string(R"({"a":)") + std::string(31, '[') + std::string(31, ']') + "}";
  EXPECT_TRUE(ScanJsonMember(shallow, "a").sure);
  for (const std::string& text : {std::string(""),
                                  std::string("[]"),
                                  std::string("1"),
                                  std::string("{"),
                                  std::string(R"({"a":"b\"c"})"),
                                  std::string(R"({"a":["\u0041"]})"),
                                  std::string("{\"a\":{\"b\":\"\xc3\xa9\"}}"),
                                  std::string(R"({"a":1,"a":2})"),
                                  std::string(R"({"a":1,})"),
                                  std::string(R"({"a":[1,]})"),
                                  std::string(R"({"a":01})"),
                                  std::string(R"({"a":1.})"),
                                  std::string(R"({"a":.5})"),
                                  std::string(R"({"a":1e})"),
                                  std::string(R"({"a":1e2})"),
                                  std::string(R"({"a":1E999})"),
                                  std::string("{\"a\":1" + std::string(301, '0') + "}"),
                                  std::string(R"({"a":-})"),
                                  std::string(R"({"a":+1})"),
                                  std::string(R"({"a":tru})"),
                                  std::string(R"({"a":{"b"}})"),
                                  std::string(R"({"a":{1:2}})"),
                                  std::string(R"({"a":1} x)"),
                                  std::string(R"({"a":[1 2]})"),
                                  std::string("{\"a\":1}\v"),
                                  deep}) {
    EXPECT_FALSE(ScanJsonMember(text, "a").sure) << text;
  }
}

// Mutations of answer-like texts: whenever the scan is sure, it agrees with
// nlohmann; and it is sure for most of the texts nlohmann reads as objects.
TEST(JsonMemberScan, AgreesWithNlohmannOnMutatedTexts) {
  const std::vector<std::string> seeds = {kAnswer, R"({"a":{"b":[1,2,{"c":"d"}]},"n":-12.5})", "{}",
                                          R"( {"x" : [ ] } )"};
  Mutator mutate(seeds, "{}[]:,\"\\ \t\nabnx01-+.eE\x7f\xc3\xa9", 0x2545F4914F6CDD1Dull);
  int sure = 0, objects = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::string text = mutate.Next();
    if (nlohmann::json::parse(text, nullptr, false).is_object()) ++objects;
    for (const char* key : {"next_nonce", "a", "x", "n"}) {
      if (ScanJsonMember(text, key).sure && std::string(key) == "next_nonce") ++sure;
      ExpectScanAgrees(text, key);
    }
  }
  EXPECT_GT(sure, objects / 2) << sure << " of " << objects;
}

}  // namespace
}  // namespace henbtrust
