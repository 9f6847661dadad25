// The OAM's messages: each codec round-trips, and no text a peer may send
// makes a decoder throw; what it accepts stays within the named limits.
#include "henbtrust/net/oam_protocol.h"

#include <gtest/gtest.h>

#include "support/bad_json.h"

namespace henbtrust {
namespace {

JobView SampleJob() {
  return JobView{42,
                 "henb-1",
                 "femto",
                 "2.0.0",
                 "femto",
                 "1.0.0",
                 JobKind::kReinstall,
                 JobState::kCommitting,
                 true,
                 Bytes(32, 0xab),
                 5000,
                 2,
                 "step 9 passed",
                 1000,
                 2000};
}

bool Same(const JobView& a, const JobView& b) {
  return a.id == b.id && a.device_id == b.device_id && a.release_id == b.release_id &&
         a.version == b.version && a.from_release_id == b.from_release_id &&
         a.from_version == b.from_version && a.kind == b.kind && a.state == b.state &&
         a.open == b.open && a.expected_tim == b.expected_tim && a.deadline == b.deadline &&
         a.attempts == b.attempts && a.detail == b.detail && a.created_at == b.created_at &&
         a.updated_at == b.updated_at;
}

TEST(OamProtocol, EveryMessageRoundTrips) {
  auto poll = DecodePollAnswer(EncodePollAnswer({AgentAction::kInstall, 9, "a.b.c"}));
  ASSERT_TRUE(poll.ok()) << poll.error().ToString();
  EXPECT_EQ(poll->action, AgentAction::kInstall);
  EXPECT_EQ(poll->job, 9);
  EXPECT_EQ(poll->order, "a.b.c");
  auto none = DecodePollAnswer(EncodePollAnswer({}));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->action, AgentAction::kNone);
  EXPECT_EQ(EncodePollAnswer({}), R"({"action":"none"})");

  auto report = DecodeAgentReport(
      EncodeAgentReport({9, ReportKind::kFellBack, "TIM mismatch", R"({"attest":"AAE="})"}));
  ASSERT_TRUE(report.ok()) << report.error().ToString();
  EXPECT_EQ(report->kind, ReportKind::kFellBack);
  EXPECT_EQ(report->detail, "TIM mismatch");
  EXPECT_EQ(report->evidence, R"({"attest":"AAE="})");

  auto answer = DecodeReportAnswer(EncodeReportAnswer({9, JobState::kReported, "recorded"}));
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->state, JobState::kReported);
  EXPECT_EQ(answer->note, "recorded");

  auto open = DecodeOpenJobRequest(EncodeOpenJobRequest({"henb-1", "femto", "2.0.0"}));
  ASSERT_TRUE(open.ok());
  EXPECT_EQ(open->version, "2.0.0");
  EXPECT_EQ(open->kind, JobKind::kUpdate);
  for (JobKind kind : kAllJobKinds) {
    auto back = DecodeOpenJobRequest(EncodeOpenJobRequest({"henb-1", "femto", "2.0.0", kind}));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->kind, kind);
  }
  // Without a kind, an update (an older operator's request); an unknown one is refused.
  EXPECT_EQ(DecodeOpenJobRequest(R"({"device_id":"d","release_id":"r","version":"1"})")->kind,
            JobKind::kUpdate);
  auto bad_kind =
      DecodeOpenJobRequest(R"({"device_id":"d","release_id":"r","version":"1","kind":"rebuild"})");
  ASSERT_FALSE(bad_kind.ok());
  EXPECT_NE(bad_kind.error().message().find("no job kind"), std::string::npos);
  auto recover = DecodePollAnswer(EncodePollAnswer({AgentAction::kRecover, 9, "a.b.c"}));
  ASSERT_TRUE(recover.ok());
  EXPECT_EQ(recover->action, AgentAction::kRecover);
  EXPECT_FALSE(DecodePollAnswer(R"({"action":"recover","job":9})").ok());  // an order is needed

  auto job = DecodeJobView(EncodeJobView(SampleJob()));
  ASSERT_TRUE(job.ok()) << job.error().ToString();
  EXPECT_TRUE(Same(*job, SampleJob()));
  auto jobs = DecodeJobList(EncodeJobList({{SampleJob(), SampleJob()}, "42"}));
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->items.size(), 2u);
  EXPECT_EQ(jobs->next, "42");
  auto last = DecodeJobList(EncodeJobList({{SampleJob()}, ""}));
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->next, "") << "null on the last page";
  EXPECT_NE(EncodeJobList({{}, ""}).find(R"("next":null)"), std::string::npos);
  EXPECT_FALSE(DecodeJobList(R"({"jobs":[],"next":7})").ok()) << "a cursor is a string";

  InventoryEntry with_job{"henb-1", "femto-1", "femto", "1.0.0", "enrolled", SampleJob()};
  InventoryEntry without{"henb-2", "femto-1", "femto", "1.0.0", "enrolled", std::nullopt};
  auto inventory = DecodeInventory(EncodeInventory({{with_job, without}, "henb-2"}));
  ASSERT_TRUE(inventory.ok()) << inventory.error().ToString();
  ASSERT_EQ(inventory->items.size(), 2u);
  EXPECT_TRUE(inventory->items[0].open_job.has_value());
  EXPECT_FALSE(inventory->items[1].open_job.has_value());
  EXPECT_EQ(inventory->next, "henb-2");

  auto audit = DecodeAuditList(
      EncodeAuditList({{{1, 100, "oam", "job:1", "ordered", "detail", Bytes(32, 7)}}, "1"}));
  ASSERT_TRUE(audit.ok());
  EXPECT_EQ(audit->items[0].hash, Bytes(32, 7));
  EXPECT_EQ(audit->next, "1");
}

TEST(OamProtocol, ReportsOfKindsWithEvidenceMustCarryIt) {
  auto r = DecodeAgentReport(R"({"job":1,"kind":"installed","detail":""})");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("evidence"), std::string::npos);
  EXPECT_TRUE(DecodeAgentReport(R"({"job":1,"kind":"committed"})").ok());
}

TEST(OamProtocol, TheSameLimitsHoldOnEverySide) {
  const std::string long_version(kMaxReleaseVersionBytes + 1, '1');
  EXPECT_FALSE(DecodeOpenJobRequest(EncodeOpenJobRequest({"henb-1", "femto", long_version})).ok());
  JobView j = SampleJob();
  j.version = long_version;
  EXPECT_FALSE(DecodeJobView(EncodeJobView(j)).ok());
  // A job id beyond what every JSON reader holds exactly.
  EXPECT_FALSE(DecodePollAnswer(R"({"action":"wait","job":9007199254740993})").ok());
}

// Every bad variant of every message: an error or a value within the
// limits, never an exception.
template <typename Decode, typename Check>
void Survives(const std::string& good, Decode decode, Check check) {
  ASSERT_TRUE(decode(good).ok()) << good;
  int refused = 0;
  for (const auto& bad : testing::BadVariants(good)) {
    SCOPED_TRACE(bad.what);
    bool ok = false;
    EXPECT_NO_THROW({
      auto r = decode(bad.text);
      ok = r.ok();
      if (ok) check(*r);
    });
    if (!ok) ++refused;
  }
  EXPECT_GT(refused, 0);
}

TEST(OamProtocol, NoBadTextMakesADecoderThrow) {
  Survives(EncodePollAnswer({AgentAction::kCommit, 9, "a.b.c"}), DecodePollAnswer,
           [](const PollAnswer& p) {
             if (p.action != AgentAction::kNone) {
               EXPECT_GE(p.job, 1);
             }
             EXPECT_LE(p.order.size(), kMaxOrderBytes);
           });
  Survives(EncodeAgentReport({9, ReportKind::kInstalled, "ok", R"({"attest":"AAE="})"}),
           DecodeAgentReport, [](const AgentReport& r) {
             EXPECT_GE(r.job, 1);
             EXPECT_LE(r.detail.size(), kMaxReportDetailBytes);
             if (ReportCarriesEvidence(r.kind)) {
               EXPECT_FALSE(r.evidence.empty());
             }
           });
  Survives(EncodeReportAnswer({9, JobState::kOrdered, "recorded"}), DecodeReportAnswer,
           [](const ReportAnswer& a) { EXPECT_LE(a.note.size(), kMaxOamNoteBytes); });
  Survives(EncodeOpenJobRequest({"henb-1", "femto", "2.0.0"}), DecodeOpenJobRequest,
           [](const OpenJobRequest& r) { EXPECT_LE(r.device_id.size(), kMaxDeviceIdBytes); });
  Survives(EncodeJobView(SampleJob()), DecodeJobView,
           [](const JobView& j) { EXPECT_LE(j.detail.size(), kMaxJobDetailBytes); });
  InventoryEntry entry{"henb-1", "femto-1", "femto", "1.0.0", "enrolled", SampleJob()};
  Survives(EncodeInventory({{entry}, "henb-1"}), DecodeInventory,
           [](const Page<InventoryEntry>& v) { EXPECT_LE(v.items.size(), 1u); });
  Survives(EncodeAuditList({{{1, 100, "oam", "job:1", "ordered", "detail", Bytes(32, 7)}}, "1"}),
           DecodeAuditList, [](const Page<AuditView>& v) { EXPECT_LE(v.items.size(), 1u); });
  Survives(EncodeJobList({{SampleJob()}, "3"}), DecodeJobList,
           [](const Page<JobView>& v) { EXPECT_LE(v.items.size(), 1u); });
}

}  // namespace
}  // namespace henbtrust
