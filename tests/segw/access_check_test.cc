// The gateway's side without a network: how an answer of the PVE, or the
// lack of one, becomes admit or refuse, and the re-check of the tunnels a
// gateway holds (src/segw).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "henbtrust/net/pve_protocol.h"
#include "henbtrust/segw/access_check.h"
#include "henbtrust/segw/tunnel_watch.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

HttpResponse Answer(int status, const std::string& content_type, const std::string& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = content_type;
  r.body = body;
  return r;
}

HttpResponse Decision(const std::string& device, const std::string& decision,
                      const std::string& reason) {
  AccessDecisionAnswer a;
  a.device_id = device;
  a.decision = decision;
  a.reason = reason;
  a.max_age = 300;
  a.status = decision == "admit" ? "affirming" : "contraindicated";
  a.appraised_at = 1000;
  a.appraisal_id = 7;
  return Answer(200, "application/json", EncodeAccessDecision(a));
}

// A PVE that answers `answer` and remembers what it was asked.
struct FakePve {
  std::vector<std::string> targets;
  std::function<Result<HttpResponse>(const std::string&)> answer;
  PveGet Get() {
    return [this](const std::string& target) {
      targets.push_back(target);
      return answer(target);
    };
  }
};

TEST(AccessCheck, AdmitsOnAnAffirmingDecisionAndRefusesOnAQuarantine) {
  FakePve pve;
  pve.answer = [](const std::string& target) {
    return target.find("/henb-1/") != std::string::npos
               ? Decision("henb-1", "admit", "affirming attestation result")
               : Decision("henb-2", "quarantine", "release 1.0 is revoked (CVE)");
  };
  AccessQuestion q;
  q.device_id = "henb-1";
  q.max_age = 120;
  auto admitted = CheckAccess(pve.Get(), q);
  ASSERT_TRUE(admitted.ok()) << admitted.error().ToString();
  EXPECT_TRUE(admitted->admit);
  EXPECT_TRUE(admitted->answered);
  EXPECT_EQ(admitted->line, "admit henb-1: affirming attestation result (appraisal 7)");
  EXPECT_EQ(pve.targets.back(), "/v1/devices/henb-1/access-decision?occasion=connect&max_age=120");

  q.device_id = "henb-2";
  q.recheck = true;
  q.max_age = 0;
  q.certificate_serial = "0A1b";
  auto refused = CheckAccess(pve.Get(), q);
  ASSERT_TRUE(refused.ok());
  EXPECT_FALSE(refused->admit);
  EXPECT_EQ(refused->line, "refuse henb-2: release 1.0 is revoked (CVE)");
  EXPECT_EQ(pve.targets.back(),
            "/v1/devices/henb-2/access-decision?occasion=recheck&certificate_serial=0A1b");
}

TEST(AccessCheck, APveThatCannotAnswerLeavesItToThePolicyAndSaysSo) {
  for (const auto& [name, answer] : std::map<std::string, Result<HttpResponse>>{
           {"down", Error(ErrorCode::kNet, "connect: connection refused")},
           {"slow", Error(ErrorCode::kNetTimeout, "no answer in 5 s")},
           {"busy", Answer(503, "application/json",
                           R"({"error":{"code":"net.busy","message":"overloaded"}})")}}) {
    FakePve pve;
    pve.answer = [&answer = answer](const std::string&) { return answer; };
    AccessQuestion q;
    q.device_id = "henb-1";
    auto refused = CheckAccess(pve.Get(), q);  // the default: refuse
    ASSERT_TRUE(refused.ok()) << name;
    EXPECT_FALSE(refused->admit) << name;
    EXPECT_FALSE(refused->answered) << name;
    EXPECT_NE(refused->line.find("refuse henb-1: the PVE"), std::string::npos) << refused->line;
    EXPECT_NE(refused->line.find("; policy --unreachable refuse"), std::string::npos)
        << refused->line;
    q.unreachable = UnreachablePolicy::kAdmit;
    auto admitted = CheckAccess(pve.Get(), q);
    ASSERT_TRUE(admitted.ok()) << name;
    EXPECT_TRUE(admitted->admit) << name;
    EXPECT_NE(admitted->line.find("; policy --unreachable admit"), std::string::npos)
        << admitted->line;
  }
}

TEST(AccessCheck, AQuestionThePveRefusesOrAnAnswerThatIsNoDecisionIsAnError) {
  AccessQuestion q;
  q.device_id = "henb-1";
  q.unreachable = UnreachablePolicy::kAdmit;  // never applies to these
  const std::vector<std::pair<Result<HttpResponse>, ErrorCode>> cases = {
      {Answer(403, "application/json",
              R"({"error":{"code":"net.forbidden","message":"role henbtrust-device"}})"),
       ErrorCode::kNetForbidden},
      {Answer(400, "application/json", "{}"), ErrorCode::kNetBadRequest},
      {Answer(404, "text/plain", "no"), ErrorCode::kNetStatus},
      {Answer(200, "application/json", "not json"), ErrorCode::kNetStatus},
      {Answer(200, "application/json", R"({"device_id":"henb-1","decision":"maybe",
        "reason":"x"})"),
       ErrorCode::kNetStatus},
      {Decision("henb-9", "admit", "affirming attestation result"), ErrorCode::kNetStatus},
      {Error(ErrorCode::kNetTls, "certificate verify failed"), ErrorCode::kNetTls},
  };
  for (const auto& [answer, code] : cases) {
    FakePve pve;
    pve.answer = [&answer = answer](const std::string&) { return answer; };
    auto verdict = CheckAccess(pve.Get(), q);
    ASSERT_FALSE(verdict.ok()) << verdict->line;
    EXPECT_EQ(verdict.error().code(), code) << verdict.error().ToString();
  }
}

TEST(AccessCheck, AMalformedQuestionIsNeverAsked) {
  FakePve pve;
  pve.answer = [](const std::string&) { return Decision("x", "admit", "y"); };
  for (const std::string& id :
       std::vector<std::string>{"", "a/b", "henb 1", std::string(300, 'a')}) {
    AccessQuestion q;
    q.device_id = id;
    EXPECT_EQ(CheckAccess(pve.Get(), q).error().code(), ErrorCode::kInvalidArgument) << id;
  }
  AccessQuestion q;
  q.device_id = "henb-1";
  q.certificate_serial = "12&max_age=99999";
  EXPECT_EQ(CheckAccess(pve.Get(), q).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(pve.targets.empty());
  EXPECT_EQ(ParseUnreachablePolicy("sometimes").error().code(), ErrorCode::kInvalidArgument);
}

class TunnelWatchTest : public ::testing::Test {
 protected:
  Env& env_ = *Env::Default();
  testing::TempDir dir_;
  std::string state_ = dir_.File("tunnels");
};

TEST_F(TunnelWatchTest, RecordsListsAndForgetsTunnelsAndReportsWhatIsNotOne) {
  ASSERT_TRUE(RecordTunnel(env_, state_, {"12", "henb-1"}).ok());
  ASSERT_TRUE(RecordTunnel(env_, state_, {"7", "henb-2"}).ok());
  EXPECT_FALSE(RecordTunnel(env_, state_, {"../x", "henb-3"}).ok());
  EXPECT_FALSE(RecordTunnel(env_, state_, {"8", "not a device"}).ok());
  std::ofstream(state_ + "/9") << "henb 9\n";          // not a device id
  std::ofstream(state_ + "/bad name") << "henb-10\n";  // not a tunnel id
  std::ofstream(state_ + "/.13.tmp1-0") << "half";     // a write in progress
  std::vector<std::string> problems;
  auto tunnels = ListTunnels(env_, state_, &problems);
  ASSERT_TRUE(tunnels.ok());
  ASSERT_EQ(tunnels->size(), 2u);
  EXPECT_EQ((*tunnels)[0].id, "12");
  EXPECT_EQ((*tunnels)[0].device_id, "henb-1");
  EXPECT_EQ((*tunnels)[1].id, "7");
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("9: does not hold a device id"), std::string::npos) << problems[0];
  EXPECT_NE(problems[1].find("bad name: not a tunnel id"), std::string::npos) << problems[1];
  ASSERT_TRUE(ForgetTunnel(env_, state_, "12").ok());
  ASSERT_TRUE(ForgetTunnel(env_, state_, "12").ok());  // gone already: fine
  EXPECT_EQ(ListTunnels(env_, state_, nullptr)->size(), 1u);
}

TEST_F(TunnelWatchTest, CutsTheRefusedKeepsTheAdmittedAndRetriesAFailedCut) {
  for (const auto& [id, device] : std::vector<std::pair<std::string, std::string>>{
           {"1", "henb-ok"}, {"2", "henb-bad"}, {"3", "henb-stuck"}}) {
    ASSERT_TRUE(RecordTunnel(env_, state_, {id, device}).ok());
  }
  FakePve pve;
  pve.answer = [](const std::string& target) {
    if (target.find("/henb-ok/") != std::string::npos)
      return Decision("henb-ok", "admit", "affirming attestation result");
    const std::string device =
        target.find("/henb-bad/") != std::string::npos ? "henb-bad" : "henb-stuck";
    return Decision(device, "quarantine", "latest attestation result is contraindicated");
  };
  std::vector<std::string> cuts;
  bool stuck_fails = true;
  const CutTunnel cut = [&](const Tunnel& t) -> Status {
    cuts.push_back(t.id + " " + t.device_id);
    if (t.device_id == "henb-stuck" && stuck_fails) return Error(ErrorCode::kIo, "exited 1");
    return OkStatus();
  };
  WatchOptions options;
  options.state_dir = state_;
  WatchRound round = RecheckTunnels(env_, pve.Get(), cut, options);
  EXPECT_EQ(round.checked, 3);
  EXPECT_EQ(round.kept, 1);
  EXPECT_EQ(round.cut, 1);
  EXPECT_EQ(round.failed, 1);
  EXPECT_EQ(cuts, (std::vector<std::string>{"2 henb-bad", "3 henb-stuck"}));
  for (const std::string& t : pve.targets) EXPECT_NE(t.find("occasion=recheck"), std::string::npos);
  ASSERT_EQ(round.lines.size(), 2u);
  EXPECT_EQ(round.lines[0],
            "cut tunnel 2: refuse henb-bad: latest attestation result is contraindicated");
  EXPECT_NE(round.lines[1].find("tunnel 3 of henb-stuck: the cut failed, tried again next round"),
            std::string::npos)
      << round.lines[1];
  EXPECT_EQ(ListTunnels(env_, state_, nullptr)->size(), 2u);  // henb-ok, and henb-stuck again

  stuck_fails = false;
  round = RecheckTunnels(env_, pve.Get(), cut, options);
  EXPECT_EQ(round.cut, 1);
  auto left = ListTunnels(env_, state_, nullptr);
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].device_id, "henb-ok");
}

TEST_F(TunnelWatchTest, APveOutageCutsNothingUnlessThePolicySaysRefuse) {
  ASSERT_TRUE(RecordTunnel(env_, state_, {"1", "henb-1"}).ok());
  FakePve pve;
  pve.answer = [](const std::string&) -> Result<HttpResponse> {
    return Error(ErrorCode::kNet, "connect: connection refused");
  };
  int cuts = 0;
  const CutTunnel cut = [&](const Tunnel&) {
    ++cuts;
    return OkStatus();
  };
  WatchOptions options;
  options.state_dir = state_;
  WatchRound round = RecheckTunnels(env_, pve.Get(), cut, options);
  EXPECT_EQ(round.kept, 1);
  EXPECT_EQ(cuts, 0);
  ASSERT_EQ(round.lines.size(), 1u);
  EXPECT_NE(round.lines[0].find("kept tunnel 1: admit henb-1: the PVE cannot be reached"),
            std::string::npos)
      << round.lines[0];
  options.unreachable = UnreachablePolicy::kRefuse;
  round = RecheckTunnels(env_, pve.Get(), cut, options);
  EXPECT_EQ(round.cut, 1);
  EXPECT_EQ(cuts, 1);
}

TEST_F(TunnelWatchTest, AMissingStateDirectoryIsAFailedRoundNotACrash) {
  FakePve pve;
  WatchOptions options;
  options.state_dir = dir_.File("nowhere");
  const WatchRound round = RecheckTunnels(
      env_, pve.Get(), [](const Tunnel&) { return OkStatus(); }, options);
  EXPECT_EQ(round.failed, 1);
  ASSERT_EQ(round.lines.size(), 1u);
  EXPECT_NE(round.lines[0].find("cannot list"), std::string::npos);
}

}  // namespace
}  // namespace henbtrust
