// The gateway's side without a network: how an answer of the PVE, or the
// lack of one, becomes admit or refuse, and the re-check of the tunnels a
// gateway holds (src/segw).
#include <gtest/gtest.h>

#include <algorithm>
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

TEST(TunnelWatch, ParsesTheGatewaysListAndReportsWhatIsNotATunnel) {
  std::vector<std::string> problems;
  const auto tunnels = ParseTunnelList(
      "12 henb-1\n7 henb-2\r\n\n9 henb 9\n../x henb-3\n13 -\n14\n a b\n", &problems);
  ASSERT_EQ(tunnels.size(), 5u);
  EXPECT_EQ(tunnels[0].id, "12");
  EXPECT_EQ(tunnels[0].device_id, "henb-1");
  EXPECT_EQ(tunnels[1].id, "7");
  EXPECT_EQ(tunnels[1].device_id, "henb-2");
  // Tunnels of no device: what follows the id is not a device id.
  for (size_t i : {2u, 3u, 4u}) EXPECT_EQ(tunnels[i].device_id, "") << tunnels[i].id;
  EXPECT_EQ(tunnels[2].id, "9");
  EXPECT_EQ(tunnels[3].id, "13");
  EXPECT_EQ(tunnels[4].id, "14");
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0], "list line 5 is not 'TUNNEL-ID DEVICE-ID': ../x henb-3");
  EXPECT_EQ(problems[1], "list line 8 is not 'TUNNEL-ID DEVICE-ID':  a b");
  EXPECT_TRUE(ParseTunnelList("", &problems).size() == 0);
  EXPECT_FALSE(IsValidTunnelId(std::string(65, '1')));
  EXPECT_TRUE(IsValidTunnelId(std::string(64, '1')));
}

// A PVE that answers by device: admit for henb-ok*, quarantine otherwise.
FakePve ByDevice() {
  FakePve pve;
  pve.answer = [](const std::string& target) {
    const size_t from = std::string("/v1/devices/").size();
    const std::string device = target.substr(from, target.find('/', from) - from);
    if (device.rfind("henb-ok", 0) == 0)
      return Decision(device, "admit", "affirming attestation result");
    return Decision(device, "quarantine", "latest attestation result is contraindicated");
  };
  return pve;
}

TEST(TunnelWatch, CutsEveryTunnelOfARefusedDeviceKeepsTheAdmittedAndRetriesAFailedCut) {
  FakePve pve = ByDevice();
  const ListTunnels list = [] {
    return Result<std::string>("1 henb-ok\n2 henb-bad\n3 henb-stuck\n4 henb-bad\n5 -\n../6 x\n");
  };
  std::vector<std::string> cuts;
  bool stuck_fails = true;
  const CutTunnel cut = [&](const Tunnel& t) -> Status {
    cuts.push_back(t.id + " " + t.device_id);
    if (t.device_id == "henb-stuck" && stuck_fails) return Error(ErrorCode::kIo, "exited 1");
    return OkStatus();
  };
  WatchRound round = RecheckTunnels(pve.Get(), list, cut, {});
  EXPECT_EQ(round.tunnels, 5);
  EXPECT_EQ(round.devices, 3);  // henb-bad's two tunnels: one question
  EXPECT_EQ(pve.targets.size(), 3u);
  EXPECT_EQ(round.kept, 1);
  EXPECT_EQ(round.cut, 3);     // henb-bad twice, and the tunnel of no device
  EXPECT_EQ(round.failed, 2);  // henb-stuck's cut, and the line without a tunnel id
  EXPECT_EQ(cuts, (std::vector<std::string>{"2 henb-bad", "3 henb-stuck", "4 henb-bad", "5 "}));
  for (const std::string& t : pve.targets) {
    EXPECT_NE(t.find("occasion=recheck"), std::string::npos) << t;
    EXPECT_EQ(t.find("max_age"), std::string::npos) << t;  // none unless set
  }
  ASSERT_EQ(round.lines.size(), 5u);
  EXPECT_EQ(round.lines[0], "list line 6 is not 'TUNNEL-ID DEVICE-ID': ../6 x");
  EXPECT_EQ(round.lines[1],
            "cut tunnel 2: refuse henb-bad: latest attestation result is contraindicated");
  EXPECT_NE(round.lines[2].find("tunnel 3 of henb-stuck: the cut failed, tried again next round"),
            std::string::npos)
      << round.lines[2];
  EXPECT_EQ(round.lines[4], "cut tunnel 5: refuse: the gateway's identity for it names no device");
  // The gateway still lists it next round (the list is the truth): cut then.
  stuck_fails = false;
  cuts.clear();
  round = RecheckTunnels(pve.Get(), list, cut, {});
  EXPECT_EQ(round.failed, 1);  // the line without a tunnel id, still there
  EXPECT_EQ(std::count(cuts.begin(), cuts.end(), "3 henb-stuck"), 1);
}

TEST(TunnelWatch, OnlyAnUnreachablePveTripsTheRoundAndTheRefusePolicyCutsWhatHasNoDecision) {
  // One device's question fails with 500 (a store error at the PVE): the
  // others are still asked.
  FakePve pve;
  pve.answer = [](const std::string& target) -> Result<HttpResponse> {
    if (target.find("/henb-1/") != std::string::npos)
      return Answer(500, "application/json", R"({"error":{"code":"store.error","message":"x"}})");
    if (target.find("/henb-2/") != std::string::npos)
      return Answer(403, "application/json", R"({"error":{"code":"net.forbidden","message":"x"}})");
    return Decision("henb-3", "quarantine", "release 1.0 is revoked (CVE)");
  };
  const ListTunnels list = [] { return Result<std::string>("1 henb-1\n2 henb-2\n3 henb-3\n"); };
  std::vector<std::string> cuts;
  const CutTunnel cut = [&](const Tunnel& t) {
    cuts.push_back(t.id);
    return OkStatus();
  };
  WatchRound round = RecheckTunnels(pve.Get(), list, cut, {});
  EXPECT_EQ(pve.targets.size(), 3u);
  EXPECT_EQ(cuts, std::vector<std::string>{"3"});  // henb-1 kept by the policy, henb-2 undecided
  EXPECT_EQ(round.kept, 1);
  EXPECT_EQ(round.failed, 1);
  WatchOptions refuse;
  refuse.unreachable = UnreachablePolicy::kRefuse;
  cuts.clear();
  round = RecheckTunnels(pve.Get(), list, cut, refuse);
  EXPECT_EQ(cuts, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(round.failed, 0);
}

TEST(TunnelWatch, APveOutageCostsOneTimeoutPerRoundAndCutsNothingUnlessThePolicySaysRefuse) {
  FakePve pve;
  pve.answer = [](const std::string&) -> Result<HttpResponse> {
    return Error(ErrorCode::kNetTimeout, "no answer in 5 s");
  };
  const ListTunnels list = [] { return Result<std::string>("1 henb-1\n2 henb-2\n3 henb-3\n"); };
  int cuts = 0;
  const CutTunnel cut = [&](const Tunnel&) {
    ++cuts;
    return OkStatus();
  };
  WatchRound round = RecheckTunnels(pve.Get(), list, cut, {});
  EXPECT_EQ(pve.targets.size(), 1u);  // then the policy, without asking
  EXPECT_EQ(round.kept, 3);
  EXPECT_EQ(cuts, 0);
  ASSERT_EQ(round.lines.size(), 3u);
  EXPECT_NE(round.lines[0].find("kept tunnel 1: admit henb-1: the PVE cannot be reached"),
            std::string::npos)
      << round.lines[0];
  EXPECT_NE(round.lines[2].find("not asked: the PVE did not answer earlier in this round"),
            std::string::npos)
      << round.lines[2];
  WatchOptions refuse;
  refuse.unreachable = UnreachablePolicy::kRefuse;
  round = RecheckTunnels(pve.Get(), list, cut, refuse);
  EXPECT_EQ(round.cut, 3);
  EXPECT_EQ(cuts, 3);
}

TEST(TunnelWatch, AListThatFailsIsAFailedRoundNotACrash) {
  FakePve pve = ByDevice();
  const ListTunnels list = []() -> Result<std::string> {
    return Error(ErrorCode::kIo, "'swanctl --list-sas' exited 1");
  };
  const WatchRound round =
      RecheckTunnels(pve.Get(), list, [](const Tunnel&) { return OkStatus(); }, {});
  EXPECT_EQ(round.failed, 1);
  EXPECT_TRUE(pve.targets.empty());
  ASSERT_EQ(round.lines.size(), 1u);
  EXPECT_NE(round.lines[0].find("cannot list the gateway's tunnels"), std::string::npos);
}

}  // namespace
}  // namespace henbtrust
