#include "henbtrust/eventlog/replay.h"

#include <gtest/gtest.h>

#include "henbtrust/core/file.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

Bytes ExtendManually(Bytes pcr, ByteView digest) {
  Append(pcr, digest);
  return Sha256(pcr);
}

EventLog ComponentLog(const std::vector<std::tuple<uint32_t, std::string, std::string>>& comps) {
  EventLog log = EventLog::NewCryptoAgile({HashAlg::kSha256});
  for (const auto& [pcr, id, image] : comps) {
    auto e = MakeComponentEvent(pcr, {id, "1.0"}, {{0x000b, Sha256(AsBytes(image))}});
    EXPECT_TRUE(log.Append(std::move(e).value()).ok());
  }
  return log;
}

TEST(Replay, ExtendsFromZeroInLogOrder) {
  EventLog log = ComponentLog({{2, "boot", "B"}, {2, "kernel", "K"}, {3, "rootfs", "R"}});
  auto values = Replay(log);
  ASSERT_TRUE(values.ok());
  const Bytes zero(32, 0);
  const Bytes pcr2 =
      ExtendManually(ExtendManually(zero, Sha256(AsBytes("B"))), Sha256(AsBytes("K")));
  EXPECT_EQ((*values)[HashAlg::kSha256][2], pcr2);
  EXPECT_EQ((*values)[HashAlg::kSha256][3], ExtendManually(zero, Sha256(AsBytes("R"))));
  EXPECT_EQ((*values)[HashAlg::kSha256].count(0), 0u);  // untouched PCRs are absent
  EXPECT_EQ(values->count(HashAlg::kSha1), 0u);
}

TEST(Replay, StartupLocalitySetsPcr0StartValue) {
  EventLog log = EventLog::NewCryptoAgile({HashAlg::kSha256});
  Event loc;
  loc.pcr = 0;
  loc.type = event_type::kNoAction;
  loc.digests = {{0x000b, Bytes(32, 0)}};
  loc.data = ToBytes(std::string("StartupLocality\0", 16));
  loc.data.push_back(3);
  ASSERT_TRUE(log.Append(loc).ok());
  Event crtm;
  crtm.pcr = 0;
  crtm.type = event_type::kSCrtmVersion;
  crtm.digests = {{0x000b, Sha256(AsBytes("v"))}};
  ASSERT_TRUE(log.Append(crtm).ok());
  auto values = Replay(log);
  Bytes start(32, 0);
  start[31] = 3;
  EXPECT_EQ((*values)[HashAlg::kSha256][0], ExtendManually(start, Sha256(AsBytes("v"))));
}

TEST(Replay, TestVectorLogGivesTheQuotedPcrValues) {
  const std::string dir = testing::TestVectorDir() + "/swtpm-quote";
  auto log = EventLog::Parse(*ReadFile(dir + "/eventlog.bin"));
  ASSERT_TRUE(log.ok());
  auto values = Replay(*log);
  const Bytes pcrs = *ReadFile(dir + "/pcrs.values.bin");  // PCR0..7 as the TPM read them
  for (uint32_t pcr : {0u, 1u, 4u, 7u}) {
    EXPECT_EQ((*values)[HashAlg::kSha256][pcr],
              Bytes(pcrs.begin() + pcr * 32, pcrs.begin() + (pcr + 1) * 32))
        << "PCR " << pcr;
  }
  const PcrSelection sel{HashAlg::kSha256, {0, 1, 2, 3, 4, 5, 6, 7}};
  EXPECT_EQ(SelectedPcrValues((*values)[HashAlg::kSha256], sel), pcrs);
  EXPECT_EQ(CompositeDigest((*values)[HashAlg::kSha256], sel), Sha256(pcrs));
}

TEST(SubstitutionReplay, EqualsTheReplayOfTheUpdatedConfiguration) {
  const EventLog old_log =
      ComponentLog({{2, "boot", "B1"}, {2, "kernel", "K1"}, {3, "femto", "F1"}});
  const EventLog new_log =
      ComponentLog({{2, "boot", "B1"}, {2, "kernel", "K2"}, {3, "femto", "F2"}});
  auto expected = ReplayWithSubstitutions(
      old_log, HashAlg::kSha256,
      {{"kernel", Sha256(AsBytes("K2"))}, {"femto", Sha256(AsBytes("F2"))}});
  ASSERT_TRUE(expected.ok()) << expected.error().ToString();
  auto actual = Replay(new_log);
  EXPECT_EQ(*expected, (*actual)[HashAlg::kSha256]);
  const PcrSelection sel{HashAlg::kSha256, {2, 3}};
  EXPECT_EQ(CompositeDigest(*expected, sel), CompositeDigest((*actual)[HashAlg::kSha256], sel));
  // Nothing substituted: the old values.
  EXPECT_EQ(*ReplayWithSubstitutions(old_log, HashAlg::kSha256, {}),
            (*Replay(old_log))[HashAlg::kSha256]);
  // And the old TIM differs from the new one (the seed's question 3).
  EXPECT_NE(CompositeDigest((*Replay(old_log))[HashAlg::kSha256], sel),
            CompositeDigest(*expected, sel));
}

TEST(SubstitutionReplay, RejectsUnknownComponentsAndBadDigests) {
  const EventLog log = ComponentLog({{2, "boot", "B1"}});
  auto unknown = ReplayWithSubstitutions(log, HashAlg::kSha256, {{"modem", Bytes(32, 1)}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kEventLogComponent);
  EXPECT_NE(unknown.error().message().find("modem"), std::string::npos);
  EXPECT_FALSE(ReplayWithSubstitutions(log, HashAlg::kSha256, {{"boot", Bytes(20, 1)}}).ok());
}

TEST(PcrResetValue, DynamicPcrsResetToOnes) {
  EXPECT_EQ(PcrResetValue(0, HashAlg::kSha256), Bytes(32, 0));
  EXPECT_EQ(PcrResetValue(17, HashAlg::kSha256), Bytes(32, 0xff));
  EXPECT_EQ(PcrResetValue(23, HashAlg::kSha1), Bytes(20, 0));
}

}  // namespace
}  // namespace henbtrust
