#include "henbtrust/eventlog/event_log.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "henbtrust/core/file.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

Event TwoBankEvent(uint32_t pcr, uint32_t type, std::string_view data) {
  Event e;
  e.pcr = pcr;
  e.type = type;
  e.digests = {{static_cast<uint16_t>(HashAlg::kSha1), Hash(HashAlg::kSha1, AsBytes(data))},
               {static_cast<uint16_t>(HashAlg::kSha256), Sha256(AsBytes(data))}};
  e.data = ToBytes(data);
  return e;
}

EventLog SampleLog() {
  EventLog log = EventLog::NewCryptoAgile({HashAlg::kSha1, HashAlg::kSha256});
  EXPECT_TRUE(log.Append(TwoBankEvent(0, event_type::kSCrtmVersion, "crtm 1.0")).ok());
  EXPECT_TRUE(log.Append(TwoBankEvent(4, event_type::kEfiAction, "Calling EFI Application")).ok());
  EXPECT_TRUE(log.Append(TwoBankEvent(7, event_type::kSeparator, std::string(4, '\0'))).ok());
  return log;
}

TEST(EventLog, CryptoAgileRoundTrip) {
  const EventLog log = SampleLog();
  const Bytes bytes = log.Serialize();
  auto parsed = EventLog::Parse(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(parsed->format(), EventLogFormat::kCryptoAgile);
  ASSERT_EQ(parsed->events().size(), 3u);
  EXPECT_EQ(parsed->events()[1].pcr, 4u);
  EXPECT_EQ(ToString(parsed->events()[1].data), "Calling EFI Application");
  EXPECT_EQ(parsed->Banks(), (std::vector<HashAlg>{HashAlg::kSha1, HashAlg::kSha256}));
  EXPECT_EQ(parsed->Serialize(), bytes);
  EXPECT_TRUE(parsed->diagnostics().empty());
}

TEST(EventLog, LegacySha1RoundTrip) {
  EventLog log = EventLog::NewSha1Legacy();
  Event e;
  e.pcr = 0;
  e.type = event_type::kPostCode;
  e.digests = {{static_cast<uint16_t>(HashAlg::kSha1), Hash(HashAlg::kSha1, AsBytes("post"))}};
  e.data = ToBytes("post");
  ASSERT_TRUE(log.Append(e).ok());
  ASSERT_TRUE(log.Append(e).ok());
  auto parsed = EventLog::Parse(log.Serialize());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->format(), EventLogFormat::kSha1Legacy);
  EXPECT_EQ(parsed->events().size(), 2u);
  EXPECT_EQ(parsed->Serialize(), log.Serialize());
  // A legacy log takes only SHA-1 events.
  EXPECT_FALSE(log.Append(TwoBankEvent(0, 1, "x")).ok());
}

TEST(EventLog, AppendRejectsDigestsThatDoNotFitTheBanks) {
  EventLog log = EventLog::NewCryptoAgile({HashAlg::kSha256});
  EXPECT_FALSE(log.Append(TwoBankEvent(0, 1, "x")).ok());  // sha1 not a bank
  Event e;
  e.digests = {{static_cast<uint16_t>(HashAlg::kSha256), Bytes(31)}};
  EXPECT_FALSE(log.Append(e).ok());
  e.digests = {};
  EXPECT_FALSE(log.Append(e).ok());
  EXPECT_TRUE(log.events().empty());
}

TEST(EventLog, EveryTruncationIsRejectedOrEndsOnAnEventBoundary) {
  const Bytes bytes = SampleLog().Serialize();
  std::vector<size_t> boundaries;
  {
    EventLog partial = EventLog::NewCryptoAgile({HashAlg::kSha1, HashAlg::kSha256});
    boundaries.push_back(partial.Serialize().size());
    const EventLog full = SampleLog();
    for (const auto& e : full.events()) {
      ASSERT_TRUE(partial.Append(e).ok());
      boundaries.push_back(partial.Serialize().size());
    }
  }
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto parsed = EventLog::Parse(ByteView(bytes).first(n));
    const bool boundary = std::find(boundaries.begin(), boundaries.end(), n) != boundaries.end();
    if (boundary) {
      EXPECT_TRUE(parsed.ok()) << "prefix of " << n << " bytes";
    } else if (parsed.ok()) {
      // Only a cut inside zero bytes passes, as ignored padding, and says so.
      ASSERT_FALSE(parsed->diagnostics().empty()) << "prefix of " << n << " bytes";
      EXPECT_NE(parsed->diagnostics()[0].message.find("trailing zero"), std::string::npos);
    } else {
      EXPECT_EQ(parsed.error().code(), ErrorCode::kEventLogParse);
    }
  }
}

TEST(EventLog, RejectsLengthsPastTheirBounds) {
  Bytes bytes = SampleLog().Serialize();
  EventLogLimits limits;
  limits.max_event_data = 37;  // the Spec ID header (37 bytes) fits; event 3's 38 do not
  EventLog grown = SampleLog();
  ASSERT_TRUE(grown.Append(TwoBankEvent(5, event_type::kEfiAction, std::string(38, 'x'))).ok());
  auto r = EventLog::Parse(grown.Serialize(), limits);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("event 3"), std::string::npos) << r.error().message();
  limits = {};
  limits.max_events = 2;
  EXPECT_FALSE(EventLog::Parse(bytes, limits).ok());

  // A data size of 4 GiB - 1 in the first event after the header.
  const size_t header =
      EventLog::NewCryptoAgile({HashAlg::kSha1, HashAlg::kSha256}).Serialize().size();
  const size_t size_field = header + 4 + 4 + 4 + (2 + 20) + (2 + 32);
  Bytes huge = bytes;
  huge[size_field] = huge[size_field + 1] = huge[size_field + 2] = huge[size_field + 3] = 0xff;
  auto r2 = EventLog::Parse(huge);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code(), ErrorCode::kEventLogParse);
}

TEST(EventLog, RejectsDigestCountAndAlgorithmsNotInTheHeader) {
  Bytes bytes = SampleLog().Serialize();
  const size_t header =
      EventLog::NewCryptoAgile({HashAlg::kSha1, HashAlg::kSha256}).Serialize().size();
  Bytes count = bytes;
  count[header + 8] = 3;  // three digests, two banks
  EXPECT_FALSE(EventLog::Parse(count).ok());
  Bytes alg = bytes;
  alg[header + 12] = 0x0c;  // sha384 is not declared
  auto r = EventLog::Parse(alg);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("not declared"), std::string::npos);
}

TEST(EventLog, ToleratesTrailingZerosAndNotesMismatchedDigests) {
  EventLog log = EventLog::NewCryptoAgile({HashAlg::kSha256});
  Event e;
  e.pcr = 4;
  e.type = event_type::kEfiAction;
  e.digests = {{static_cast<uint16_t>(HashAlg::kSha256), Sha256(AsBytes("something else"))}};
  e.data = ToBytes("Calling EFI Application");
  ASSERT_TRUE(log.Append(e).ok());
  Bytes bytes = log.Serialize();
  bytes.insert(bytes.end(), 16, 0);
  auto parsed = EventLog::Parse(bytes);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->diagnostics().size(), 2u);
  EXPECT_NE(parsed->diagnostics()[0].message.find("trailing zero"), std::string::npos);
  EXPECT_NE(parsed->diagnostics()[1].message.find("does not match"), std::string::npos);
}

TEST(EventLog, ParsesEveryLogOfTheRealWorldCorpus) {
  const std::string dir = testing::TestVectorDir() + "/eventlogs";
  size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".bin") continue;
    ++count;
    auto raw = ReadFile(entry.path().string());
    ASSERT_TRUE(raw.ok());
    auto log = EventLog::Parse(*raw);
    ASSERT_TRUE(log.ok()) << entry.path() << ": " << log.error().ToString();
    EXPECT_FALSE(log->events().empty());
    // Our writer reproduces every real log byte for byte.
    EXPECT_EQ(log->Serialize(), *raw) << entry.path();
  }
  EXPECT_EQ(count, 10u);
}

TEST(ComponentEvent, EncodesIdAndVersion) {
  auto e = MakeComponentEvent(2, {"kernel", "5.10.1"}, {{0x000b, Bytes(32, 1)}});
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->type, event_type::kIpl);
  EXPECT_EQ(ToString(e->data), "henbtrust:kernel:5.10.1");
  auto ref = ParseComponentEvent(*e);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->id, "kernel");
  EXPECT_EQ(ref->version, "5.10.1");
  EXPECT_FALSE(MakeComponentEvent(2, {"bad:id", "1"}, {}).ok());
  EXPECT_FALSE(MakeComponentEvent(2, {"", "1"}, {}).ok());
  EXPECT_FALSE(MakeComponentEvent(24, {"k", "1"}, {}).ok());
  Event other = *e;
  other.type = event_type::kAction;
  EXPECT_FALSE(ParseComponentEvent(other).has_value());
}

TEST(DescribeEvent, ShowsTypeDigestsAndData) {
  const std::string line = DescribeEvent(TwoBankEvent(4, event_type::kEfiAction, "hello"), 3);
  EXPECT_NE(line.find("#3 pcr=4 EV_EFI_ACTION"), std::string::npos) << line;
  EXPECT_NE(line.find("sha256=" + HexEncode(Sha256(AsBytes("hello")))), std::string::npos);
  EXPECT_NE(line.find("data=\"hello\""), std::string::npos);
  EXPECT_EQ(EventTypeName(0x12345678), "EV_0x12345678");
}

}  // namespace
}  // namespace henbtrust
