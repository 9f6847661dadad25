// Differential tests of the event log against tpm2_eventlog (tpm2-tools).
#include <gtest/gtest.h>

#include <filesystem>

#include "henbtrust/core/file.h"
#include "henbtrust/eventlog/replay.h"
#include "support/test_support.h"
#include "support/tpm2_tools.h"

namespace henbtrust {
namespace {

std::map<std::string, std::map<int, std::string>> Ours(const EventLog& log) {
  std::map<std::string, std::map<int, std::string>> out;
  for (const auto& [alg, pcrs] : *Replay(log)) {
    for (const auto& [pcr, value] : pcrs)
      out[std::string(HashAlgName(alg))][static_cast<int>(pcr)] = HexEncode(value);
  }
  return out;
}

TEST(EventLogInterop, EveryCorpusLogReplaysToTpm2EventlogsValues) {
  const std::string dir = testing::TestVectorDir() + "/eventlogs";
  size_t logs = 0, values = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".bin") continue;
    auto r = testing::Run("tpm2_eventlog " + entry.path().string());
    if (r.exit_code != 0) continue;  // only logs tpm2_eventlog accepts are compared
    const auto theirs = testing::ParseEventlogPcrs(r.out);
    auto log = EventLog::Parse(*ReadFile(entry.path().string()));
    ASSERT_TRUE(log.ok()) << entry.path();
    EXPECT_EQ(Ours(*log), theirs) << entry.path();
    ++logs;
    for (const auto& [bank, pcrs] : theirs) values += pcrs.size();
  }
  EXPECT_EQ(logs, 10u);
  EXPECT_EQ(values, 126u);
}

TEST(EventLogInterop, Tpm2EventlogReadsOurLogsWithTheSameValues) {
  testing::TempDir dir;
  // Three banks, components and a separator. No EV_NO_ACTION event after
  // the header: tpm2-tools 5.4 extends those (and ignores StartupLocality),
  // which the PC Client PFP forbids; replay_test covers the PFP behaviour.
  EventLog log = EventLog::NewCryptoAgile({HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha384});
  for (int i = 0; i < 20; ++i) {
    const std::string image = "component image " + std::to_string(i);
    auto e = MakeComponentEvent(static_cast<uint32_t>(i % 8), {"c" + std::to_string(i), "1.0"},
                                {{0x0004, Hash(HashAlg::kSha1, AsBytes(image))},
                                 {0x000b, Sha256(AsBytes(image))},
                                 {0x000c, Hash(HashAlg::kSha384, AsBytes(image))}});
    ASSERT_TRUE(log.Append(*e).ok());
  }
  Event sep;
  sep.pcr = 7;
  sep.type = event_type::kSeparator;
  sep.data = Bytes(4, 0);
  sep.digests = {{0x0004, Hash(HashAlg::kSha1, sep.data)},
                 {0x000b, Sha256(sep.data)},
                 {0x000c, Hash(HashAlg::kSha384, sep.data)}};
  ASSERT_TRUE(log.Append(sep).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.File("ours.bin"), log.Serialize()).ok());
  auto r = testing::Run("tpm2_eventlog " + dir.File("ours.bin"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto theirs = testing::ParseEventlogPcrs(r.out);
  EXPECT_EQ(theirs.size(), 3u);
  EXPECT_EQ(Ours(log), theirs);
  EXPECT_NE(r.out.find("henbtrust:c7:1.0"), std::string::npos);

  // The legacy SHA-1 format too.
  EventLog legacy = EventLog::NewSha1Legacy();
  for (int i = 0; i < 5; ++i) {
    Event e;
    e.pcr = static_cast<uint32_t>(i);
    e.type = event_type::kPostCode;
    e.data = ToBytes("post " + std::to_string(i));
    e.digests = {{0x0004, Hash(HashAlg::kSha1, e.data)}};
    ASSERT_TRUE(legacy.Append(e).ok());
  }
  ASSERT_TRUE(WriteFileAtomic(dir.File("legacy.bin"), legacy.Serialize()).ok());
  auto r2 = testing::Run("tpm2_eventlog " + dir.File("legacy.bin"));
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(Ours(legacy), testing::ParseEventlogPcrs(r2.out));
}

}  // namespace
}  // namespace henbtrust
