// Assured recovery end to end (docs/recovery.md), over HTTPS on SQLite and
// PostgreSQL, with soft-TrE devices whose boot stage counts on the test's
// clock: a device whose OS is hostile (it changes a component and then
// ignores every command and every remediation job) is back on a safe
// release, attested, within one ticket period plus one recovery install;
// and an OAM outage three times the ticket period, or an attacker dropping
// tickets on the path for as long, resets each device at most once, bricks
// none, and every device is back in normal service one round after it ends.
#include <algorithm>
#include <set>

#include "henbtrust/agent/agent.h"
#include "henbtrust/net/ticket_protocol.h"
#include "henbtrust/tpm/tpm_tre.h"
#include "oam/flow_fixture.h"

namespace henbtrust {
namespace {

constexpr int64_t kPeriod = 600;  // seconds
constexpr int64_t kRound = 30;    // seconds of test time per round

class RecoveryTest : public UpdateFlowTest {
 protected:
  void SetUp() override {
    UpdateFlowTest::SetUp();
    if (HasFatalFailure()) return;
    RestartOam([](OamConfig& c) {
      c.ticket_period = kPeriod;
      c.ticket_freshness = kPeriod;
    });
  }

  DeviceOptions WithBootStage() {
    DeviceOptions o;
    o.boot_stage = {oam_key_.Public().ToPem(), kPeriod};
    return o;
  }

  // One round of the world: each device's watchdog (the hardware's, which
  // runs whatever the OS does); the recovery image's contact, or the OS's
  // ticket renewal and poll unless the OS is hostile; then the OAM's driver.
  void Round(std::vector<FleetDevice>& fleet) {
    for (auto& d : fleet) {
      if (d.swtpm) {
        // The TPM's clock follows the test's (it only ever moves forward).
        auto clock = d.device->tre().ReadClock();
        ASSERT_TRUE(clock.ok()) << clock.error().ToString();
        const uint64_t now_ms = static_cast<uint64_t>(h_->now.load()) * 1000;
        if (now_ms > clock->clock) {
          ASSERT_TRUE(TpmClockSet(d.device->tre(), now_ms).ok());
        }
      }
      auto fired = d.device->Watchdog();
      ASSERT_TRUE(fired.ok()) << d.id << ": " << fired.error().ToString();
      if (*fired) log_.push_back(d.id + ": watchdog reset (" + Stage(d).reason + ")");
      const bool recovering = d.device->mode() == DeviceMode::kRecovery;
      if (!recovering && hostile_.count(d.id)) continue;  // ignores everything
      auto w = d.watchdog->Round();
      log_.push_back(d.id + ": " + (w.ok() ? *w : "error: " + w.error().ToString()));
      if (!recovering && d.device->mode() == DeviceMode::kRecovery) continue;
      if (d.device->mode() != DeviceMode::kNormal) continue;
      if (recovering) {
        // Back from recovery: whatever ran before is gone.
        hostile_.erase(d.id);
        continue;
      }
      auto p = d.agent->PollOnce();
      if (!p.ok()) log_.push_back(d.id + ": poll: " + p.error().ToString());
    }
    ASSERT_TRUE(oam_->Drive().ok());
    h_->now += kRound;
  }

  // A client with the recovery image's identity, read from the boot
  // stage's files as an attacker who could read them would.
  std::unique_ptr<HttpClient> RecoveryClient(const FleetDevice& d) {
    const std::string stage = h_->dir.File(d.id) + "/boot-stage";
    return h_->Client(TlsConfig{testing::ReadText(stage + "/recovery.pem"),
                                testing::ReadText(stage + "/recovery.key"), h_->CaPem()});
  }

  static const BootStageState& Stage(const FleetDevice& d) {
    return d.device->boot_stage()->state();
  }

  std::string Trace() const {
    std::string out;
    for (const auto& l : log_) out += l + "\n";
    return out;
  }

  // Until every device is in normal mode with a ticket of the OAM's.
  void RunUntilAllHaveTickets(std::vector<FleetDevice>& fleet) {
    for (int i = 0; i < 2 * kPeriod / kRound; ++i) {
      Round(fleet);
      if (HasFatalFailure()) return;
      bool all = true;
      for (auto& d : fleet) {
        all = all && d.device->mode() == DeviceMode::kNormal && Stage(d).affirmed_appraisal != 0;
      }
      if (all) return;
    }
    FAIL() << "not every device got a ticket:\n" << Trace();
  }

  std::vector<std::string> AuditEvents(const std::string& subject) {
    std::vector<std::string> out;
    auto entries = h_->store->ListAudit(0, 100000);
    EXPECT_TRUE(entries.ok());
    for (const auto& e : *entries) {
      if (e.subject == subject) out.push_back(e.event);
    }
    return out;
  }

  void HostileDeviceIsRecovered(bool on_swtpm);

  std::set<std::string> hostile_;
};

// A device whose OS changes a component and then ignores every command and
// the operator's recover job, beside a healthy one; on the soft TrE or on
// swtpm.
void RecoveryTest::HostileDeviceIsRecovered(bool on_swtpm) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("hostile", WithBootStage(), on_swtpm));
  fleet.push_back(AddDevice("healthy", WithBootStage()));
  RunUntilAllHaveTickets(fleet);
  if (HasFatalFailure()) return;

  // The OS is taken over: a component changes, and from now on the OS
  // ignores every command. The operator orders a recovery, which the OS
  // ignores too.
  FleetDevice& bad = fleet[0];
  const auto manifest = bad.device->SlotManifest(bad.device->boot_control().active);
  ASSERT_TRUE(manifest);
  std::ofstream(bad.device->SlotDir(bad.device->boot_control().active) + "/" +
                    manifest->components.back().id + ".img",
                std::ios::app)
      << "implant";
  hostile_.insert("hostile");
  const int64_t compromised_at = h_->now;
  // The model's recovery release is 2.0: devices are recovered to it, and
  // their recovery images become it.
  ASSERT_TRUE(oam_->SetModelPolicy({"femto-a1", 0, "henb-fw", "2.0", 0}, "operator:test").ok());
  auto job = oam_->OpenJob("hostile", "henb-fw", "2.0", "operator:test", JobKind::kRecover);
  ASSERT_TRUE(job.ok()) << job.error().ToString();

  int64_t recovered_at = 0;
  for (int i = 0; i < 3 * kPeriod / kRound && recovered_at == 0; ++i) {
    Round(fleet);
    if (HasFatalFailure()) return;
    auto latest = h_->store->LatestAppraisal("hostile");
    ASSERT_TRUE(latest.ok());
    auto device = h_->store->GetDevice("hostile");
    if (bad.device->mode() == DeviceMode::kNormal && hostile_.empty() &&
        (*device)->release_version == "2.0" && *latest && (*latest)->status == "affirming") {
      recovered_at = h_->now;
    }
  }
  ASSERT_NE(recovered_at, 0) << Trace();
  // One ticket period (the last deferral was at most that long ago), plus
  // the recovery: contact, install and step 9, commit, back to service.
  EXPECT_LE(recovered_at - compromised_at, kPeriod + 5 * kRound) << Trace();
  EXPECT_EQ(Stage(bad).reason, kRecoveryWatchdog);
  EXPECT_EQ(Stage(bad).resets, 1u);
  EXPECT_EQ(bad.device->SlotManifest("recovery")->version, "2.0") << Trace();
  auto boot = bad.device->Boot();
  ASSERT_TRUE(boot.ok());
  EXPECT_EQ(boot->release_version, "2.0");
  EXPECT_EQ(bad.device->boot_control().booted, bad.device->boot_control().active);
  auto committed = h_->store->GetJob(job->id);
  ASSERT_TRUE(committed.ok() && *committed);
  EXPECT_EQ((*committed)->state, JobState::kCommitted) << (*committed)->detail;
  const auto events = AuditEvents("device:hostile");
  EXPECT_NE(std::find(events.begin(), events.end(), "device entered recovery"), events.end());
  // The OAM cleared it at its contact, and saw it back when it asked for a
  // ticket from its normal slot.
  const auto cleared = std::find(events.begin(), events.end(), "recovery cleared");
  ASSERT_NE(cleared, events.end());
  EXPECT_NE(std::find(cleared, events.end(), "device left recovery"), events.end());
  auto row = h_->store->GetWatchdog("hostile");
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->mode, "normal");

  // The healthy device never noticed.
  EXPECT_EQ(Stage(fleet[1]).resets, 0u) << Trace();
  EXPECT_EQ(fleet[1].device->mode(), DeviceMode::kNormal);
}

TEST_P(RecoveryTest, AHostileDeviceIsBackOnASafeReleaseWithinOnePeriodPlusOneRecovery) {
  HostileDeviceIsRecovered(false);
}

TEST_P(RecoveryTest, AHostileDeviceOnSwtpmIsBackToo) { HostileDeviceIsRecovered(true); }

TEST_P(RecoveryTest, AnOamOutageOfThreePeriodsResetsEachDeviceOnceAndBricksNone) {
  std::vector<FleetDevice> fleet;
  for (const char* id : {"henb-a", "henb-b", "henb-c"})
    fleet.push_back(AddDevice(id, WithBootStage()));
  RunUntilAllHaveTickets(fleet);
  if (HasFatalFailure()) return;
  // An outage (every answer 503), then an attacker on the path who drops
  // the watchdog's messages, each for three ticket periods.
  for (const bool whole_oam : {true, false}) {
    SCOPED_TRACE(whole_oam ? "the OAM is down" : "an attacker drops the watchdog's messages");
    std::map<std::string, uint64_t> resets_before;
    for (auto& d : fleet) resets_before[d.id] = Stage(d).resets;
    Intercept([whole_oam](const HttpRequest& r) -> std::optional<HttpResponse> {
      const bool watchdog = r.target == "/v1/agent/ticket" || r.target == "/v1/recovery/contact";
      if (!whole_oam && !watchdog) return std::nullopt;
      return HttpResponse{
          503, "application/json", R"({"error":{"code":"net.unavailable","message":"down"}})", {}};
    });
    for (int i = 0; i < 3 * kPeriod / kRound; ++i) {
      Round(fleet);
      if (HasFatalFailure()) return;
    }
    for (auto& d : fleet) {
      // One reset (the watchdog did fire), and the device serves in minimal
      // mode from its intact normal slot.
      EXPECT_EQ(Stage(d).resets - resets_before[d.id], 1u) << d.id << "\n" << Trace();
      EXPECT_EQ(d.device->mode(), DeviceMode::kMinimal) << d.id << "\n" << Trace();
      EXPECT_EQ(d.device->boot_control().booted, "a") << d.id;
    }
    Intercept(nullptr);
    // Within one retry period (plus a round) of its end, every device is
    // back in normal service.
    const int64_t ended_at = h_->now;
    auto all_normal = [&] {
      return std::all_of(fleet.begin(), fleet.end(), [](const FleetDevice& d) {
        return d.device->mode() == DeviceMode::kNormal;
      });
    };
    for (int i = 0; i < 20 && !all_normal(); ++i) {
      Round(fleet);
      if (HasFatalFailure()) return;
    }
    EXPECT_LE(h_->now - ended_at, watchdog_retry_.retry_cap + kRound) << Trace();
    for (auto& d : fleet) {
      EXPECT_EQ(d.device->mode(), DeviceMode::kNormal) << d.id << "\n" << Trace();
      auto boot = d.device->Boot();
      ASSERT_TRUE(boot.ok());
      EXPECT_EQ(boot->release_version, "1.0");
    }
  }
}

TEST_P(RecoveryTest, TheOamDefersOnlyOnARecentAffirmingAppraisal) {
  FleetDevice d = AddDevice("henb-t", WithBootStage());
  auto ask = [&]() {
    auto challenge = d.device->TicketChallenge();
    EXPECT_TRUE(challenge.ok());
    return d.client->Request("POST", "/v1/agent/ticket", "application/json",
                             EncodeTicketRequest({*challenge, "normal", "", {}}));
  };
  // Never appraised: no ticket, and no refusal either.
  auto r = ask();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("policy.ticket"), std::string::npos) << r->body;
  // Appraised, long ago: no ticket.
  ASSERT_TRUE(AttestOnce(*d.client, d.device->tre()).ok());
  h_->now += kPeriod + 1;
  r = ask();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403) << r->body;
  // Appraised just now, but without the boot stage's quote (no log, so
  // none): affirming, yet it does not show which key the watchdog trusts.
  auto unlogged = AttestOnce(*d.client, d.device->tre(), /*with_log=*/false);
  ASSERT_TRUE(unlogged.ok() && unlogged->status == 200);
  r = ask();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403) << r->body;
  EXPECT_NE(r->body.find("shows no boot stage measurement"), std::string::npos) << r->body;
  // Appraised just now: a deferral the boot stage takes.
  ASSERT_TRUE(AttestOnce(*d.client, d.device->tre()).ok());
  r = ask();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  auto answer = DecodeTicketAnswer(r->body);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->verdict, TicketVerdict::kDefer);
  EXPECT_EQ(answer->period, kPeriod);
  auto effect = d.device->AcceptTicket(answer->ticket, "henb-t");
  ASSERT_TRUE(effect.ok()) << effect.error().ToString();
  EXPECT_EQ(*effect, TicketEffect::kDeferred);
  // The same ticket again defers nothing.
  EXPECT_FALSE(d.device->AcceptTicket(answer->ticket, "henb-t").ok());
  // A bad request changes nothing.
  auto bad = d.client->Request("POST", "/v1/agent/ticket", "application/json", R"({"nonce":"x"})");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->status, 400);
  // The recovery endpoints are not the device's: its certificate is refused there.
  auto device_role = d.client->Request("POST", "/v1/recovery/contact", "application/json",
                                       EncodeTicketRequest({Bytes(32, 1), "recovery", "", {}}));
  ASSERT_TRUE(device_role.ok());
  EXPECT_EQ(device_role->status, 403) << device_role->body;
  EXPECT_NE(device_role->body.find("net.forbidden"), std::string::npos) << device_role->body;
  // Nor does the normal OS get the recovery image's key.
  auto tls = d.device->RecoveryTls();
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.error().code(), ErrorCode::kDeviceState);
  // An OS that had it anyway (read from the boot stage, which in this
  // model is a directory) still cannot pose as its recovery image: its
  // quote is of a normal boot (the same release as the recovery image's,
  // but without the boot stage's recovery marker), so the PVE's TIM is not
  // a recovery boot's.
  std::unique_ptr<HttpClient> stolen = RecoveryClient(d);
  ASSERT_TRUE(stolen);
  auto recovery_only = stolen->Request("POST", "/v1/recovery/contact", "application/json",
                                       EncodeTicketRequest({Bytes(32, 1), "normal", "", {}}));
  ASSERT_TRUE(recovery_only.ok());
  EXPECT_EQ(recovery_only->status, 400) << recovery_only->body;
  {
    const ReleaseManifest v1 = ReadBundleHeader(v1_)->manifest;
    auto challenge = d.device->TicketChallenge();
    ASSERT_TRUE(challenge.ok());
    TicketRequest pose{*challenge, "recovery", "watchdog expired", *d.device->LocalTim("a")};
    pose.recovery_release_id = v1.release_id;
    pose.recovery_version = v1.version;
    pose.evidence = *EvidenceJson(d.device->tre(), *challenge, {PlanSelection(v1)});
    auto posed = stolen->Request("POST", "/v1/recovery/contact", "application/json",
                                 EncodeTicketRequest(pose));
    ASSERT_TRUE(posed.ok());
    EXPECT_EQ(posed->status, 403) << posed->body;
    EXPECT_NE(posed->body.find("not a boot of the recovery image"), std::string::npos)
        << posed->body;
    // Nor without evidence.
    pose.evidence.clear();
    posed = stolen->Request("POST", "/v1/recovery/contact", "application/json",
                            EncodeTicketRequest(pose));
    ASSERT_TRUE(posed.ok());
    EXPECT_EQ(posed->status, 403) << posed->body;
    auto row = h_->store->GetWatchdog("henb-t");
    ASSERT_TRUE(row.ok());
    EXPECT_TRUE(!*row || (*row)->mode == "normal") << "a refused contact records nothing";
  }
  // An open recover job: a signed refusal, which sends the device to recovery.
  ASSERT_TRUE(oam_->OpenJob("henb-t", "henb-fw", "2.0", "operator:test", JobKind::kRecover).ok());
  ASSERT_TRUE(AttestOnce(*d.client, d.device->tre()).ok());
  r = ask();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  answer = DecodeTicketAnswer(r->body);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->verdict, TicketVerdict::kRecover);
  effect = d.device->AcceptTicket(answer->ticket, "henb-t");
  ASSERT_TRUE(effect.ok());
  EXPECT_EQ(*effect, TicketEffect::kRecover);
  EXPECT_EQ(d.device->mode(), DeviceMode::kRecovery);
}

// The recovery image has a TLS role of its own (henbtrust-recovery): the
// PVE issues it at enrollment for the boot stage's key, only the recovery
// endpoints admit it, and only for the key enrolled for its device.
TEST_P(RecoveryTest, TheRecoveryImageHasItsOwnTlsRole) {
  FleetDevice d = AddDevice("henb-r", WithBootStage());
  const std::string stage = h_->dir.File("henb-r") + "/boot-stage";
  auto cert = Certificate::FromPem(testing::ReadText(stage + "/recovery.pem"));
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  EXPECT_EQ(cert->SubjectField("O"), kRoleRecovery);
  EXPECT_EQ(cert->SubjectField("CN"), "henb-r");
  auto key = PrivateKey::FromPem(testing::ReadText(stage + "/recovery.key"));
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(cert->SubjectKey()->ToDer(), key->Public().ToDer());
  auto record = h_->store->GetDevice("henb-r");
  ASSERT_TRUE(record.ok() && record->has_value());
  EXPECT_EQ((*record)->recovery_public_key, key->Public().ToDer());
  // It is not the device's: the device endpoints refuse it.
  std::unique_ptr<HttpClient> recovery = RecoveryClient(d);
  ASSERT_TRUE(recovery);
  for (const char* target : {"/v1/agent/poll", "/v1/agent/ticket"}) {
    auto r = recovery->Request("POST", target, "application/json", "{}");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 403) << target << ": " << r->body;
  }
  // A recovery certificate for another key (one the CA issued earlier, or
  // by mistake) does not speak for the device.
  const PrivateKey other = *PrivateKey::Generate(KeyType::kEcP256);
  CertificateSpec spec;
  spec.common_name = "henb-r";
  spec.organization = std::string(kRoleRecovery);
  spec.client_auth = true;
  auto ca_key = PrivateKey::FromPem(testing::ReadText(h_->dir.File("pve/client-ca.key")));
  auto ca = Certificate::FromPem(testing::ReadText(h_->dir.File("pve/client-ca.pem")));
  ASSERT_TRUE(ca_key.ok() && ca.ok());
  auto forged = IssueCertificate(spec, other.Public(), *ca_key, &*ca);
  ASSERT_TRUE(forged.ok());
  auto impostor = h_->Client(TlsConfig{forged->ToPem(), other.ToPem(), h_->CaPem()});
  ASSERT_TRUE(impostor);
  auto r = impostor->Request("POST", "/v1/recovery/poll", "application/json", "{}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401) << r->body;
  EXPECT_NE(r->body.find("recovery key enrolled"), std::string::npos) << r->body;
  // The enrolled one is admitted (no recover job: nothing to do).
  r = recovery->Request("POST", "/v1/recovery/poll", "application/json", "{}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  // Once an operator revokes the device its recovery image is refused too.
  ASSERT_TRUE(
      h_->store
          ->RevokeDevice("henb-r", h_->now,
                         AuditEntry{0, h_->now, "test", "device:henb-r", "revoked", "", {}, {}})
          .ok());
  r = recovery->Request("POST", "/v1/recovery/poll", "application/json", "{}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401) << r->body;
}

// A failed renewal in normal mode is not repeated at every round: the
// device backs off (with jitter) as in minimal mode, so that a fleet does
// not hammer an OAM that is down, and renews once it is back.
TEST_P(RecoveryTest, AFailedRenewalBacksOffInNormalModeToo) {
  FleetDevice d = AddDevice("henb-n", WithBootStage());
  h_->now += kPeriod / 2 + 1;  // renewal is due
  int asked = 0;
  Intercept([&asked](const HttpRequest& r) -> std::optional<HttpResponse> {
    if (r.target != "/v1/agent/ticket") return std::nullopt;
    ++asked;
    return HttpResponse{
        503, "application/json", R"({"error":{"code":"net.unavailable","message":"down"}})", {}};
  });
  ASSERT_FALSE(d.watchdog->RenewTicket().ok());
  EXPECT_EQ(asked, 1);
  // Within the first backoff (at least half of retry_base): no attempt.
  h_->now += watchdog_retry_.retry_base / 2 - 1;
  auto quiet = d.watchdog->RenewTicket();
  ASSERT_TRUE(quiet.ok()) << quiet.error().ToString();
  EXPECT_EQ(*quiet, "");
  EXPECT_EQ(asked, 1);
  // After it, another attempt; and when the OAM is back, a ticket.
  h_->now += watchdog_retry_.retry_base;
  EXPECT_FALSE(d.watchdog->RenewTicket().ok());
  EXPECT_EQ(asked, 2);
  Intercept(nullptr);
  h_->now += watchdog_retry_.retry_cap;
  auto renewed = d.watchdog->RenewTicket();
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  EXPECT_NE(renewed->find("deferred"), std::string::npos) << *renewed;
  EXPECT_EQ(d.device->mode(), DeviceMode::kNormal);
}

// The boot stage measures the key it holds, and the PVE reads it from the
// boot stage's quote (normal boots) or the recovery boot's TIM: a device
// whose watchdog answers to another key gets no deferral from this OAM,
// and its recovery image is not taken for this OAM's.
TEST_P(RecoveryTest, ARecoveryBootUnderAnotherTicketKeyIsRefused) {
  const PrivateKey other = *PrivateKey::Generate(KeyType::kEcP256);
  DeviceOptions o;
  o.boot_stage = {other.Public().ToPem(), kPeriod};
  FleetDevice d = AddDevice("henb-k", o);
  auto renewed = d.watchdog->RenewTicket(/*force=*/true);
  ASSERT_FALSE(renewed.ok());
  EXPECT_NE(renewed.error().message().find(
                "another ticket key (sha256:" + HexEncode(Sha256(other.Public().ToDer())) + ")"),
            std::string::npos)
      << renewed.error().ToString();
  // The PVE's appraisal itself is affirming: the key is the OAM's matter.
  auto latest = h_->store->LatestAppraisal("henb-k");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->status, "affirming");
  h_->now += kPeriod + 1;
  ASSERT_TRUE(*d.device->Watchdog());
  auto round = d.watchdog->Round();
  ASSERT_FALSE(round.ok());
  EXPECT_NE(round.error().message().find("under this OAM's ticket key"), std::string::npos)
      << round.error().ToString();
  EXPECT_EQ(d.device->mode(), DeviceMode::kRecovery);
  auto row = h_->store->GetWatchdog("henb-k");
  ASSERT_TRUE(row.ok());
  EXPECT_FALSE(row->has_value()) << "a refused contact records nothing";
}

INSTANTIATE_TEST_SUITE_P(Backends, RecoveryTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace henbtrust
