// The update job's state machine alone (oam/job_machine.h), then the OAM
// applying it, against a fake PVE link and a clock the test sets: every
// (state, event) pair either makes the transition the table names or is
// refused with policy.state and changes nothing.
#include "henbtrust/oam/job_machine.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "henbtrust/crypto/keys.h"
#include "henbtrust/net/oam_protocol.h"
#include "henbtrust/net/protocol.h"
#include "henbtrust/net/pve_protocol.h"
#include "henbtrust/oam/oam.h"
#include "support/bad_json.h"
#include "support/test_support.h"

namespace henbtrust {

void PrintTo(JobState state, std::ostream* out) { *out << JobStateName(state); }

namespace {

std::vector<JobEvent> AllEvents() {
  std::vector<JobEvent> out;
  for (int i = 0; i < kJobEventCount; ++i) out.push_back(static_cast<JobEvent>(i));
  return out;
}

const JobTransition* Row(JobState from, JobEvent event) {
  for (const auto& t : JobTransitions()) {
    if (t.from == from && t.event == event) return &t;
  }
  return nullptr;
}

// Evidence the codec reads (whether it verifies is the PVE's to say).
constexpr const char* kEvidence = R"({"nonce":"AAAA","attest":"AAE=","signature":"AAE="})";

// The PVE's answer at step 9 that passes it: affirming, with the expected TIM.
std::string AffirmingVerdict() {
  AttestationResultAnswer verdict;
  verdict.appraisal_id = 8;
  verdict.attestation_result = "e.a.r";
  verdict.device_id = "henb-1";
  verdict.release = "2.0.0";
  verdict.status = "affirming";
  verdict.tim = HexEncode(Bytes(32, 0xab));
  return EncodeAttestationResult(verdict)->With(8);
}

UpdateJob SampleJob(JobState state) {
  UpdateJob j;
  j.id = 7;
  j.device_id = "henb-1";
  j.release_id = "femto";
  j.version = "2.0.0";
  j.from_release_id = "femto";
  j.from_version = "1.0.0";
  j.state = state;
  j.open = IsOpenJobState(state);
  j.expected_tim = Bytes(32, 0xab);
  j.order_nonce = Bytes(32, 0x01);
  j.order = "token";
  j.deadline = 1000;
  j.attempts = 1;
  j.next_action_at = 900;
  j.report = "{}";
  j.detail = "detail";
  j.created_at = 10;
  j.updated_at = 20;
  return j;
}

bool Same(const UpdateJob& a, const UpdateJob& b) {
  return a.id == b.id && a.device_id == b.device_id && a.release_id == b.release_id &&
         a.version == b.version && a.from_release_id == b.from_release_id &&
         a.from_version == b.from_version && a.state == b.state && a.open == b.open &&
         a.expected_tim == b.expected_tim && a.order_nonce == b.order_nonce && a.order == b.order &&
         a.deadline == b.deadline && a.attempts == b.attempts &&
         a.next_action_at == b.next_action_at && a.report == b.report && a.detail == b.detail &&
         a.created_at == b.created_at && a.updated_at == b.updated_at;
}

TEST(JobMachine, EveryStateEventPairMovesAsTheTableSaysOrIsRefusedUnchanged) {
  int moved = 0, refused = 0;
  for (JobState s : kAllJobStates) {
    for (JobEvent e : AllEvents()) {
      UpdateJob job = SampleJob(s);
      const UpdateJob before = job;
      auto r = ApplyJobEvent(job, e);
      const JobTransition* row = Row(s, e);
      if (row) {
        ASSERT_TRUE(r.ok()) << JobStateName(s) << " / " << JobEventName(e);
        EXPECT_EQ(job.state, row->to);
        EXPECT_EQ(job.open, IsOpenJobState(row->to));
        EXPECT_EQ(r->audit_event, row->audit_event);
        ++moved;
      } else {
        ASSERT_FALSE(r.ok()) << JobStateName(s) << " / " << JobEventName(e);
        EXPECT_EQ(r.error().code(), ErrorCode::kPolicyState);
        EXPECT_NE(r.error().message().find(JobStateName(s)), std::string::npos);
        EXPECT_TRUE(Same(job, before)) << JobStateName(s) << " / " << JobEventName(e);
        ++refused;
      }
    }
  }
  EXPECT_EQ(moved, static_cast<int>(JobTransitions().size()));
  EXPECT_EQ(moved + refused, static_cast<int>(kAllJobStates.size()) * kJobEventCount);
}

TEST(JobMachine, TheTableIsATotalFunctionOfItsPairsAndClosedStatesAreFinal) {
  std::set<std::pair<int, int>> seen;
  for (const auto& t : JobTransitions()) {
    EXPECT_TRUE(seen.insert({static_cast<int>(t.from), static_cast<int>(t.event)}).second)
        << "two rows for " << JobStateName(t.from) << " / " << JobEventName(t.event);
    EXPECT_TRUE(IsOpenJobState(t.from)) << JobStateName(t.from) << " is closed but has a row";
    EXPECT_FALSE(t.audit_event.empty());
  }
}

TEST(JobMachine, EveryStateIsReachableAndEveryOpenStateCanEnd) {
  // Forward: from opened.
  std::set<JobState> reached = {JobState::kOpened};
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& t : JobTransitions()) {
      if (reached.count(t.from) && reached.insert(t.to).second) grew = true;
    }
  }
  for (JobState s : kAllJobStates) EXPECT_TRUE(reached.count(s)) << JobStateName(s);
  // Backward: every open state reaches a closed one.
  for (JobState s : kAllJobStates) {
    if (!IsOpenJobState(s)) continue;
    std::set<JobState> from = {s};
    bool ends = false;
    for (bool grew = true; grew && !ends;) {
      grew = false;
      for (const auto& t : JobTransitions()) {
        if (from.count(t.from) && from.insert(t.to).second) grew = true;
        if (from.count(t.to) && !IsOpenJobState(t.to)) ends = true;
      }
    }
    EXPECT_TRUE(ends) << JobStateName(s) << " never ends";
  }
}

TEST(JobMachine, NamesRoundTripAndUnknownNamesAreRefused) {
  for (JobState s : kAllJobStates) EXPECT_EQ(ParseJobState(JobStateName(s)), s);
  EXPECT_FALSE(ParseJobState("Opened").has_value());
  EXPECT_FALSE(ParseJobState("").has_value());
  for (auto k : {ReportKind::kInstalled, ReportKind::kFellBack, ReportKind::kRejected,
                 ReportKind::kRolledBack, ReportKind::kCommitted}) {
    EXPECT_EQ(ParseReportKind(ReportKindName(k)), k);
  }
  for (auto a :
       {AgentAction::kNone, AgentAction::kWait, AgentAction::kAttest, AgentAction::kInstall,
        AgentAction::kCommit, AgentAction::kRollback, AgentAction::kRecover}) {
    EXPECT_EQ(ParseAgentAction(AgentActionName(a)), a);
  }
  for (JobKind k : kAllJobKinds) EXPECT_EQ(ParseJobKind(JobKindName(k)), k);
  EXPECT_FALSE(ParseJobKind("Recover").has_value());
  EXPECT_FALSE(ParseReportKind("installed ").has_value());
  EXPECT_FALSE(ParseAgentAction("reboot").has_value());
}

TEST(JobMachine, TheDeviceIsToldTheActionOfItsJobsState) {
  EXPECT_EQ(ActionFor(JobState::kOpened), AgentAction::kAttest);
  EXPECT_EQ(ActionFor(JobState::kOrdered), AgentAction::kInstall);
  EXPECT_EQ(ActionFor(JobState::kReported), AgentAction::kWait);
  EXPECT_EQ(ActionFor(JobState::kCommitting), AgentAction::kCommit);
  EXPECT_EQ(ActionFor(JobState::kRollingBack), AgentAction::kRollback);
  // A recover job's order is the recovery image's; a reinstall's an install.
  EXPECT_EQ(ActionFor(JobState::kOrdered, JobKind::kRecover), AgentAction::kRecover);
  EXPECT_EQ(ActionFor(JobState::kOrdered, JobKind::kReinstall), AgentAction::kInstall);
  EXPECT_EQ(ActionFor(JobState::kCommitting, JobKind::kRecover), AgentAction::kCommit);
  for (JobState s : kAllJobStates) {
    if (!IsOpenJobState(s)) {
      EXPECT_EQ(ActionFor(s), AgentAction::kNone) << JobStateName(s);
    }
  }
}

// --- the OAM applying the machine ----------------------------------------------

// An OamService over a fresh SQLite store, with a fake PVE whose answers the
// test sets and a clock the test moves.
class JobMachineService : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = OpenStore("sqlite:" + dir_.File("oam.db"));
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    store_ = std::move(store).value();
    DeviceRecord device;
    device.device_id = "henb-1";
    device.hardware_model = "femto-1";
    device.release_id = "femto";
    device.release_version = "1.0.0";
    device.state = "enrolled";
    ASSERT_TRUE(store_->PutDevice(device).ok());
    auto key = PrivateKey::Generate(KeyType::kEcP256);
    ASSERT_TRUE(key.ok());
    order_key_ = key->Public();
    OamConfig config{std::move(key).value(), dir_.path()};
    config.now = [this] { return now_; };
    config.max_attempts = 3;
    oam_ = std::make_unique<OamService>(
        *store_,
        [this](const std::string& method, const std::string& target, const std::string&) {
          ++pve_calls_;
          auto it = pve_.find(method + " " + target.substr(target.rfind('/')));
          if (it == pve_.end()) return Result<HttpResponse>(HttpResponse{503, "", "down", {}});
          return Result<HttpResponse>(it->second);
        },
        std::move(config));
  }

  // A job of henb-1 in `state` (written straight to the store).
  int64_t JobIn(JobState state) {
    UpdateJob job = SampleJob(JobState::kOpened);
    job.id = 0;
    job.deadline = now_ + 100;
    job.next_action_at = now_;
    auto id = store_->CreateJob(job, AuditEntry{0, now_, "test", "", "opened", "", {}, {}});
    EXPECT_TRUE(id.ok());
    job.id = *id;
    job.state = state;
    job.open = IsOpenJobState(state);
    EXPECT_TRUE(*store_->TransitionJob(job, JobState::kOpened, std::nullopt));
    return job.id;
  }

  UpdateJob Stored(int64_t id) { return **store_->GetJob(id); }

  HttpResponse Report(int64_t job, ReportKind kind) {
    HttpRequest req;
    req.method = "POST";
    req.target = "/v1/agent/reports";
    req.content_type = "application/json";
    req.body = EncodeAgentReport(
        AgentReport{job, kind, "test", ReportCarriesEvidence(kind) ? kEvidence : ""});
    req.peer = PeerIdentity{true, true, "", "henb-1", std::string(kRoleDevice), {}, "01"};
    return oam_->Handle(req);
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<OamService> oam_;
  std::map<std::string, HttpResponse> pve_;  // "METHOD /last-segment" -> answer
  int64_t now_ = 1000;
  int pve_calls_ = 0;
  std::optional<PublicKey> order_key_;
};

TEST_F(JobMachineService, EveryReportInEveryStateMovesAsTheTableSaysOrChangesNothing) {
  const ReportKind kinds[] = {ReportKind::kInstalled, ReportKind::kFellBack, ReportKind::kRejected,
                              ReportKind::kRolledBack, ReportKind::kCommitted};
  for (JobState s : kAllJobStates) {
    for (ReportKind k : kinds) {
      const int64_t id = JobIn(s);
      const UpdateJob before = Stored(id);
      const HttpResponse r = Report(id, k);
      const UpdateJob after = Stored(id);
      const JobTransition* row = Row(s, EventForReport(k));
      const std::string what =
          std::string(JobStateName(s)) + " / " + std::string(ReportKindName(k));
      if (row) {
        EXPECT_EQ(r.status, 200) << what << ": " << r.body;
        // A report with evidence goes on to step 9, which waits: the PVE is down.
        EXPECT_EQ(after.state, row->to) << what;
        EXPECT_EQ(after.open, IsOpenJobState(row->to)) << what;
        if (k == ReportKind::kRejected) {
          EXPECT_EQ(after.attempts, before.attempts + 1) << what;
        }
      } else {
        // A repeat (job closed, or already reported) is a 200 that changes
        // nothing; anything else 409 policy.state.
        if (before.open && s != JobState::kReported) {
          EXPECT_EQ(r.status, 409) << what << ": " << r.body;
          EXPECT_NE(r.body.find("policy.state"), std::string::npos) << what;
        } else {
          EXPECT_EQ(r.status, 200) << what;
        }
        EXPECT_TRUE(Same(after, before)) << what;
      }
      // Close it, so that the device's next job can open.
      UpdateJob done = Stored(id);
      if (done.open) {
        const JobState was = done.state;
        done.state = JobState::kFailed;
        done.open = false;
        ASSERT_TRUE(*store_->TransitionJob(done, was, std::nullopt));
      }
    }
  }
}

TEST_F(JobMachineService, MissedDeadlinesRetryTheOpenStatesThenFailThem) {
  for (JobState s :
       {JobState::kOpened, JobState::kOrdered, JobState::kCommitting, JobState::kRollingBack}) {
    const int64_t id = JobIn(s);
    UpdateJob job = Stored(id);
    job.attempts = 0;
    ASSERT_TRUE(*store_->TransitionJob(job, s, std::nullopt));
    for (int attempt = 1; attempt <= 3; ++attempt) {
      now_ = Stored(id).deadline;
      ASSERT_TRUE(oam_->Drive().ok());
      const UpdateJob after = Stored(id);
      EXPECT_EQ(after.attempts, attempt) << JobStateName(s);
      EXPECT_EQ(after.state, attempt < 3 ? s : JobState::kFailed) << JobStateName(s);
      if (s != JobState::kOpened && attempt < 3) {
        // The instruction is signed again for the same action.
        auto order = VerifyDeploymentOrder(after.order, *order_key_, "henb-1", now_);
        ASSERT_TRUE(order.ok()) << order.error().ToString();
        EXPECT_EQ(order->action, ActionFor(s));
      }
    }
  }
}

// A reinstall or recover job is ordered at the driver's next look, without
// asking the PVE; an update job waits for an affirming appraisal.
TEST_F(JobMachineService, RemediationIsOrderedWithoutAnAppraisal) {
  for (JobKind kind : kAllJobKinds) {
    const int64_t id = JobIn(JobState::kOpened);
    UpdateJob job = Stored(id);
    job.kind = kind;
    ASSERT_TRUE(*store_->TransitionJob(job, JobState::kOpened, std::nullopt));
    const int calls = pve_calls_;
    ASSERT_TRUE(oam_->Drive().ok());
    const UpdateJob after = Stored(id);
    EXPECT_EQ(after.kind, kind);
    EXPECT_EQ(pve_calls_ > calls, kind == JobKind::kUpdate) << JobKindName(kind);
    if (kind == JobKind::kUpdate) {
      EXPECT_EQ(after.state, JobState::kOpened);  // the PVE has no appraisal for it
    } else {
      EXPECT_EQ(after.state, JobState::kOrdered) << JobKindName(kind);
      auto order = VerifyDeploymentOrder(after.order, *order_key_, "henb-1", now_);
      ASSERT_TRUE(order.ok()) << order.error().ToString();
      EXPECT_EQ(order->action,
                kind == JobKind::kRecover ? AgentAction::kRecover : AgentAction::kInstall);
    }
    UpdateJob done = Stored(id);
    const JobState was = done.state;
    done.state = JobState::kFailed;
    done.open = false;
    ASSERT_TRUE(*store_->TransitionJob(done, was, std::nullopt));
  }
}

TEST_F(JobMachineService, ThePveDecidesStepsTwoToFourAndNine) {
  // Steps 2-4: an affirming appraisal since the job opened orders it.
  const int64_t a = JobIn(JobState::kOpened);
  pve_["GET /attestation-result"] = HttpResponse{
      200,
      "application/json",
      R"({"device_id":"henb-1","appraisal_id":5,"status":"affirming","appraised_at":1000,"attestation_result":"x"})",
      {}};
  ASSERT_TRUE(oam_->Drive().ok());
  EXPECT_EQ(Stored(a).state, JobState::kOrdered);
  EXPECT_FALSE(Stored(a).order.empty());
  // Step 9 passes with the PVE affirming and the expected TIM.
  ASSERT_EQ(Report(a, ReportKind::kInstalled).status, 200);
  ASSERT_EQ(Stored(a).state, JobState::kReported);
  pve_["POST /update-appraisals"] = HttpResponse{200, "application/json", AffirmingVerdict(), {}};
  pve_["PUT /configuration"] = HttpResponse{200, "application/json", "{}", {}};
  now_ += 10;  // the report's own try at step 9 met the PVE down: it waits pve_retry
  ASSERT_TRUE(oam_->Drive().ok());
  EXPECT_EQ(Stored(a).state, JobState::kCommitting);
  ASSERT_EQ(Report(a, ReportKind::kCommitted).status, 200);
  EXPECT_EQ(Stored(a).state, JobState::kCommitted);

  // Steps 2-4 not affirming: refused.
  const int64_t b = JobIn(JobState::kOpened);
  pve_["GET /attestation-result"].body =
      R"({"device_id":"henb-1","appraisal_id":6,"status":"contraindicated","appraised_at":1000,"attestation_result":"x"})";
  ASSERT_TRUE(oam_->Drive().ok());
  EXPECT_EQ(Stored(b).state, JobState::kRefused);
}

// The driver survives any answer of the PVE: every member of its latest
// result and of its update appraisal spoiled, and texts that are not JSON.
// Each Drive() goes on; the job waits, or moves as the answer that was
// still readable says; and with good answers again the job goes on.
TEST_F(JobMachineService, TheDriverSurvivesEveryBadAnswerOfThePve) {
  LatestResultAnswer latest{"henb-1", 5, "warning", 1000, "e.a.r"};
  int waited = 0;
  for (const auto& bad : testing::BadVariants(EncodeLatestResult(latest))) {
    SCOPED_TRACE(bad.what);
    const int64_t id = JobIn(JobState::kOpened);
    pve_["GET /attestation-result"] = HttpResponse{200, "application/json", bad.text, {}};
    Result<int> moved = 0;
    EXPECT_NO_THROW(moved = oam_->Drive());
    ASSERT_TRUE(moved.ok()) << moved.error().ToString();
    const UpdateJob after = Stored(id);
    EXPECT_TRUE(after.state == JobState::kOpened || after.state == JobState::kRefused)
        << JobStateName(after.state);
    if (after.state == JobState::kOpened) {
      ++waited;
      EXPECT_FALSE(after.detail.empty());
      UpdateJob done = after;
      done.state = JobState::kFailed;
      done.open = false;
      ASSERT_TRUE(*store_->TransitionJob(done, JobState::kOpened, std::nullopt));
    }
  }
  EXPECT_GT(waited, 0);

  pve_["PUT /configuration"] = HttpResponse{200, "application/json", "{}", {}};
  const std::string good = AffirmingVerdict();
  const int64_t id = JobIn(JobState::kOrdered);
  ASSERT_EQ(Report(id, ReportKind::kInstalled).status, 200);  // the PVE is down: it waits
  for (const auto& bad : testing::BadVariants(good)) {
    SCOPED_TRACE(bad.what);
    pve_["POST /update-appraisals"] = HttpResponse{200, "application/json", bad.text, {}};
    now_ += 10;
    Result<int> moved = 0;
    EXPECT_NO_THROW(moved = oam_->Drive());
    ASSERT_TRUE(moved.ok()) << moved.error().ToString();
    const UpdateJob after = Stored(id);
    if (after.state != JobState::kReported) {
      // A variant that still reads as a verdict: step 9 took it. Start again.
      EXPECT_TRUE(after.state == JobState::kCommitting || after.state == JobState::kRollingBack)
          << JobStateName(after.state);
      UpdateJob back = after;
      back.state = JobState::kReported;
      back.open = true;
      back.next_action_at = now_;
      ASSERT_TRUE(*store_->TransitionJob(back, after.state, std::nullopt));
    } else {
      EXPECT_NE(after.detail.find("step 9 waits for the PVE"), std::string::npos) << after.detail;
    }
  }
  pve_["POST /update-appraisals"] = HttpResponse{200, "application/json", good, {}};
  now_ += 10;
  ASSERT_TRUE(oam_->Drive().ok());
  EXPECT_EQ(Stored(id).state, JobState::kCommitting);
}

}  // namespace
}  // namespace henbtrust
