// Quarantine at a real security gateway (docs/segw.md): strongSwan's charon
// as the SeGW in one network namespace and one charon per H(e)NB in others,
// joined by veth pairs; H(e)NBs authenticate with the device certificates
// the PVE issued, and the gateway's updown hook (deploy/strongswan) asks the
// PVE through `henbtrust segw-check` and deletes the tunnel of a device it
// refuses; `henbtrust segw-watch` cuts a tunnel whose device stops verifying.
// The server (OAM and PVE) runs in this process, inside the gateway's
// namespace. This machine's kernel has no ESP, so charon carries ESP itself
// (kernel-libipsec, in UDP).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "oam/flow_fixture.h"
#include "segw/gateway_network.h"

namespace henbtrust {
namespace {

using namespace std::chrono_literals;
using testing::Charon;
using testing::GatewayNetwork;
using testing::Slurp;

bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

int64_t MillisSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
      .count();
}

// A TCP listener on the core network's address, in the gateway's namespace:
// what an H(e)NB reaches only through its tunnel.
class CoreService {
 public:
  CoreService() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    ::inet_pton(AF_INET, testing::kCoreAddress, &at.sin_addr);
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&at), sizeof at) == 0 &&
          ::listen(fd_, 16) == 0;
    socklen_t len = sizeof at;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&at), &len);
    port_ = ntohs(at.sin_port);
  }
  ~CoreService() { ::close(fd_); }
  bool ok() const { return ok_; }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
  uint16_t port_ = 0;
};

class SegwTest : public UpdateFlowTest {
 protected:
  static constexpr int kHenbs = 4;

  void SetUp() override {
    if (const std::string why = testing::GatewayTestUnavailable(); !why.empty())
      GTEST_SKIP() << "no gateway on this machine: " << why;
    net_ = std::make_unique<GatewayNetwork>(kHenbs);
    ASSERT_EQ(net_->error(), "");
    // Before the server starts: its threads and sockets live in the gateway's namespace.
    ASSERT_EQ(net_->EnterGateway(), "");
    UpdateFlowTest::SetUp();
    if (HasFatalFailure()) return;
    core_ = std::make_unique<CoreService>();
    ASSERT_TRUE(core_->ok());

    const std::string dir = h_->dir.File("segw");
    updown_log_ = dir + "/updown.log";
    settings_ = dir + "/segw.env";
    const std::string swanctl_uri = "unix://" + dir + "/charon.vici";
    std::filesystem::create_directories(dir);
    std::ofstream(settings_) << GatewayNetwork::Render(
        "segw.env", {{"HENBTRUST", testing::CliPath()},
                     {"PVE", "127.0.0.1:" + std::to_string(server_->port())},
                     {"CA", Pve("ca.pem")},
                     {"CERT", Pve("segw.pem")},
                     {"KEY", Pve("segw.key")},
                     {"SWANCTL_URI", swanctl_uri},
                     {"MAX_AGE", "3600"},
                     {"LOG", updown_log_}});

    const std::string conf = GatewayNetwork::Render(
        "segw-swanctl.conf",
        {{"SEGW_ADDRESS", "0.0.0.0"},
         {"CORE_NETWORK", std::string(testing::kCoreAddress) + "/32"},
         {"UPDOWN", std::string(HENB_DEPLOY_DIR) + "/strongswan/henbtrust-updown"},
         {"SETTINGS", settings_},
         {"INNER_POOL", "10.251.0.0/24"}});
    segw_ = std::make_unique<Charon>(
        net_->gateway_ns(), dir, conf,
        std::vector<std::pair<std::string, std::string>>{
            {"x509/segw.pem", testing::ReadText(Pve("segw.pem"))},
            {"private/segw.key", testing::ReadText(Pve("segw.key"))},
            {"x509ca/client-ca.pem", testing::ReadText(Pve("client-ca.pem"))}});
    ASSERT_EQ(segw_->Start(), "");
  }

  void TearDown() override {
    watch_.reset();
    henbs_.clear();
    segw_.reset();
  }

  std::string Pve(const std::string& name) const { return h_->dir.File("pve/" + name); }
  // The strongSwan adapter of segw-watch, for this gateway.
  std::string Tunnels(const std::string& verb) const {
    return std::string(HENB_DEPLOY_DIR) + "/strongswan/henbtrust-tunnels " + verb + " " +
           segw_->vici_uri();
  }

  // The id of the tunnel the gateway lists for `device` ("" if none).
  std::string ListedTunnelOf(const std::string& device) const {
    const std::string out =
        testing::Run(Tunnels("list"), "STRONGSWAN_CONF=" + segw_->dir() + "/strongswan.conf").out;
    const size_t at = out.find(" " + device + "\n");
    if (at == std::string::npos) return "";
    const size_t from = out.rfind('\n', at);
    return out.substr(from == std::string::npos ? 0 : from + 1,
                      at - (from == std::string::npos ? 0 : from + 1));
  }

  // The charon of device `d` on link `link`, started, its configuration loaded.
  Charon& HenbCharon(const FleetDevice& d, int link) {
    const std::string conf = GatewayNetwork::Render(
        "henb-swanctl.conf", {{"SEGW_ADDRESS", testing::GatewayAddress(link)},
                              {"CORE_NETWORK", std::string(testing::kCoreAddress) + "/32"}});
    auto charon = std::make_unique<Charon>(
        net_->henb_ns(link), h_->dir.File("henb-charon-" + d.id), conf,
        std::vector<std::pair<std::string, std::string>>{
            {"x509/device.pem", d.credentials.certificate_pem},
            {"private/device.key", d.credentials.private_key_pem},
            {"x509ca/client-ca.pem", testing::ReadText(Pve("client-ca.pem"))}});
    const std::string started = charon->Start();
    EXPECT_EQ(started, "");
    henbs_.push_back(std::move(charon));
    return *henbs_.back();
  }

  static bool Connect(const Charon& c) {
    return c.Swanctl("--initiate --child core --timeout 20").exit_code == 0;
  }
  static bool HasTunnel(const Charon& c) {
    return c.Sas().find("ESTABLISHED") != std::string::npos;
  }
  // Whether the gateway holds an IKE_SA of `device`: what enforcement is
  // about (the device's own charon learns of a deletion when it arrives).
  bool GatewayHolds(const std::string& device) const {
    return segw_->Sas().find("CN=" + device + "'") != std::string::npos;
  }
  // Whether the device in namespace `ns` reaches the core network (through its tunnel).
  bool ReachesCore(const std::string& ns) const {
    return testing::Run("ip netns exec " + ns + " timeout 5 bash -c 'echo hello >/dev/tcp/" +
                        testing::kCoreAddress + "/" + std::to_string(core_->port()) + "'")
               .exit_code == 0;
  }

  // Makes the running image of `d` differ from its RIM and has it appraised.
  static void Implant(FleetDevice& d) {
    const auto manifest = *d.device->SlotManifest(d.device->boot_control().active);
    std::ofstream(d.device->SlotDir(d.device->boot_control().active) + "/" +
                      manifest.components.back().id + ".img",
                  std::ios::app)
        << "implant";
    ASSERT_TRUE(d.device->Boot().ok());
    auto appraised = AttestOnce(*d.client, d.device->tre());
    ASSERT_TRUE(appraised.ok());
    EXPECT_EQ(Body(*appraised)["status"], "contraindicated");
  }

  // The audit log's gateway entries for `device`: "event: detail" each.
  std::vector<std::string> GatewayAudit(const std::string& device) {
    std::vector<std::string> out;
    const Json audit = Get("/v1/audit?limit=1000");
    for (const auto& e : audit["entries"]) {
      if (e["subject"] == "device:" + device &&
          e["actor"].get<std::string>().rfind("segw:", 0) == 0) {
        out.push_back(e["event"].get<std::string>() + ": " + e["detail"].get<std::string>());
      }
    }
    return out;
  }

  std::unique_ptr<GatewayNetwork> net_;
  std::unique_ptr<CoreService> core_;
  std::unique_ptr<Charon> segw_;
  std::vector<std::unique_ptr<Charon>> henbs_;
  std::unique_ptr<testing::Background> watch_;
  std::string updown_log_, settings_;
};

TEST_P(SegwTest, AHealthyDeviceGetsItsTunnelAndOnesThatDoNotVerifyAreRefused) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("henb-good"));
  fleet.push_back(AddDevice("henb-implant"));
  fleet.push_back(AddDevice("henb-unappraised"));
  ASSERT_EQ(Body(*AttestOnce(*fleet[0].client, fleet[0].device->tre()))["status"], "affirming");
  Implant(fleet[1]);
  if (HasFatalFailure()) return;

  Charon& good = HenbCharon(fleet[0], 1);
  Charon& implant = HenbCharon(fleet[1], 2);
  Charon& unappraised = HenbCharon(fleet[2], 3);
  ASSERT_TRUE(Connect(good)) << good.Log();
  EXPECT_TRUE(HasTunnel(good));
  EXPECT_TRUE(ReachesCore(net_->henb_ns(1)));

  // IKE succeeds for the others (their certificates are good), and the
  // gateway then deletes what it set up.
  for (const auto& [charon, device] :
       {std::pair{&implant, "henb-implant"}, std::pair{&unappraised, "henb-unappraised"}}) {
    Charon* refused = charon;
    const std::string id = device;
    const auto start = std::chrono::steady_clock::now();
    Connect(*refused);
    EXPECT_TRUE(Eventually([&] { return !GatewayHolds(id); }, 10s))
        << segw_->Sas() << Slurp(updown_log_);
    std::cout << "refused tunnel gone " << MillisSince(start) << " ms after the device asked\n";
  }
  EXPECT_FALSE(ReachesCore(net_->henb_ns(2)));
  EXPECT_FALSE(ReachesCore(net_->henb_ns(3)));
  EXPECT_TRUE(HasTunnel(good));
  EXPECT_TRUE(GatewayHolds("henb-good"));

  const std::string log = Slurp(updown_log_);
  EXPECT_NE(log.find("admit henb-good: affirming attestation result"), std::string::npos) << log;
  EXPECT_NE(log.find("refuse henb-implant: latest attestation result is contraindicated"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("refuse henb-unappraised: never appraised"), std::string::npos) << log;
  // A certificate of the same CA that is not a device's (the operator's)
  // gets no IKE_SA at all: the gateway accepts only O=henbtrust-device.
  FleetDevice impostor;
  impostor.id = "henb-operator";
  impostor.credentials.certificate_pem = testing::ReadText(Pve("operator.pem"));
  impostor.credentials.private_key_pem = testing::ReadText(Pve("operator.key"));
  Charon& wrong_role = HenbCharon(impostor, 4);
  EXPECT_FALSE(Connect(wrong_role));
  EXPECT_FALSE(HasTunnel(wrong_role));
  EXPECT_NE(segw_->Log().find("no matching peer config found"), std::string::npos);

  // What segw-watch sees: the IKE_SAs charon holds, as henbtrust-tunnels lists them.
  const auto listed =
      testing::Run(Tunnels("list"), "STRONGSWAN_CONF=" + segw_->dir() + "/strongswan.conf");
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find(" henb-good\n"), std::string::npos) << listed.out;
  EXPECT_EQ(std::count(listed.out.begin(), listed.out.end(), '\n'), 1) << listed.out;

  // Each decision is in the audit log, as the gateway's.
  const auto admitted = GatewayAudit("henb-good");
  ASSERT_EQ(admitted.size(), 1u);
  EXPECT_EQ(admitted[0].rfind("access admitted: henb-good: affirming attestation result", 0), 0u)
      << admitted[0];
  const auto refused = GatewayAudit("henb-implant");
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_NE(refused[0].find("access refused: henb-implant: latest attestation result is "
                            "contraindicated"),
            std::string::npos)
      << refused[0];
}

TEST_P(SegwTest, ATunnelIsCutWhenItsDeviceStopsVerifyingAndComesBackAfterRecovery) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("henb-revoked"));
  fleet.push_back(AddDevice("henb-failing"));
  fleet.push_back(AddDevice("henb-bystander"));
  for (auto& d : fleet)
    ASSERT_EQ(Body(*AttestOnce(*d.client, d.device->tre()))["status"], "affirming");
  Charon& revoked = HenbCharon(fleet[0], 1);
  Charon& failing = HenbCharon(fleet[1], 2);
  for (Charon* c : {&revoked, &failing}) {
    ASSERT_TRUE(Connect(*c)) << c->Log() << Slurp(updown_log_);
    EXPECT_TRUE(HasTunnel(*c));
  }

  constexpr int kInterval = 2;
  watch_ = std::make_unique<testing::Background>(
      "env STRONGSWAN_CONF=" + segw_->dir() + "/strongswan.conf " + testing::CliPath() +
          " segw-watch --pve 127.0.0.1:" + std::to_string(server_->port()) + " --ca " +
          Pve("ca.pem") + " --cert " + Pve("segw.pem") + " --key " + Pve("segw.key") +
          " --interval " + std::to_string(kInterval) + " --list-command '" + Tunnels("list") +
          "' --cut-command '" + Tunnels("cut") + "'",
      h_->dir.File("segw-watch.log"));
  ASSERT_TRUE(Eventually(
      [&] {
        return Slurp(h_->dir.File("segw-watch.log")).find("segw-watch: every") != std::string::npos;
      },
      10s));

  // A new appraisal fails: the tunnel is cut within the interval and one answer.
  auto start = std::chrono::steady_clock::now();
  Implant(fleet[1]);
  if (HasFatalFailure()) return;
  ASSERT_TRUE(Eventually([&] { return !GatewayHolds("henb-failing"); },
                         std::chrono::seconds(kInterval + 8)))
      << Slurp(h_->dir.File("segw-watch.log"));
  const int64_t after_failure = MillisSince(start);
  EXPECT_TRUE(GatewayHolds("henb-revoked"));

  // An IKE rekey gives the tunnel a new unique id, and charon tells no
  // updown hook: segw-watch still finds it, in charon's own list.
  const std::string before = ListedTunnelOf("henb-revoked");
  ASSERT_FALSE(before.empty());
  const auto rekeyed = segw_->Swanctl("--rekey --ike-id " + before);
  ASSERT_EQ(rekeyed.exit_code, 0) << rekeyed.out << rekeyed.err;
  ASSERT_TRUE(Eventually(
      [&] {
        const std::string now = ListedTunnelOf("henb-revoked");
        return !now.empty() && now != before;
      },
      10s))
      << before << "\n"
      << testing::Run(Tunnels("list")).out << segw_->Sas() << rekeyed.out;

  // The release the device runs is revoked: cut likewise.
  start = std::chrono::steady_clock::now();
  Json revocation = Post("/v1/revocations",
                         {{"release_id", "henb-fw"},
                          {"version", "1.0"},
                          {"safe_version", "2.0"},
                          {"reason", "CVE-2026-7777 in the femto stack"}},
                         200);
  ASSERT_TRUE(Eventually([&] { return !GatewayHolds("henb-revoked"); },
                         std::chrono::seconds(kInterval + 8)))
      << Slurp(h_->dir.File("segw-watch.log"));
  const int64_t after_revocation = MillisSince(start);
  std::cout << "tunnel cut " << after_failure << " ms after a failed appraisal, "
            << after_revocation << " ms after a revocation (segw-watch --interval " << kInterval
            << ")\n";
  EXPECT_LT(after_failure, (kInterval + 5) * 1000);
  EXPECT_LT(after_revocation, (kInterval + 5) * 1000);
  EXPECT_FALSE(ReachesCore(net_->henb_ns(1)));
  const std::string watch_log = Slurp(h_->dir.File("segw-watch.log"));
  EXPECT_NE(watch_log.find("refuse henb-failing: latest attestation result is contraindicated"),
            std::string::npos)
      << watch_log;
  EXPECT_NE(watch_log.find("refuse henb-revoked: release 1.0 is revoked (CVE-2026-7777"),
            std::string::npos)
      << watch_log;

  // Meanwhile a quarantined device cannot get a tunnel again.
  Connect(revoked);
  EXPECT_TRUE(Eventually([&] { return !GatewayHolds("henb-revoked"); }, 10s));

  // Recovery: the revocation's campaign reinstalls the safe release on every
  // device of 1.0 (step 9 appraises each afresh); then each connects again.
  RunToEnd(fleet);
  ASSERT_TRUE(oam_->Drive().ok());
  for (auto& d : fleet) EXPECT_EQ((*h_->store->GetDevice(d.id))->release_version, "2.0") << d.id;
  for (Charon* c : {&revoked, &failing}) {
    ASSERT_TRUE(Connect(*c)) << Slurp(updown_log_);
    // Still up after a recheck or two.
    std::this_thread::sleep_for(std::chrono::seconds(kInterval) + 500ms);
    EXPECT_TRUE(HasTunnel(*c)) << Slurp(updown_log_) << Slurp(h_->dir.File("segw-watch.log"));
  }
  EXPECT_TRUE(GatewayHolds("henb-revoked"));
  EXPECT_TRUE(GatewayHolds("henb-failing"));
  EXPECT_TRUE(ReachesCore(net_->henb_ns(1)));
  EXPECT_TRUE(ReachesCore(net_->henb_ns(2)));

  // The audit log holds the story of each: admitted, withdrawn, refused, admitted.
  const auto story = GatewayAudit("henb-revoked");
  std::vector<std::string> events;
  events.reserve(story.size());
  for (const auto& e : story) events.push_back(e.substr(0, e.find(':')));
  EXPECT_EQ(events, (std::vector<std::string>{"access admitted", "access withdrawn",
                                              "access refused", "access admitted"}))
      << ::testing::PrintToString(story);
  EXPECT_NE(story[1].find("release 1.0 is revoked (CVE-2026-7777"), std::string::npos) << story[1];
  watch_->Stop();
}

INSTANTIATE_TEST_SUITE_P(Sqlite, SegwTest, ::testing::Values("sqlite"));

// `henbtrust segw-check` and `segw-watch --once` against the server, and the
// PVE's side of the question; no gateway, no namespaces.
class SegwCheckTest : public UpdateFlowTest {
 protected:
  std::string Pve(const std::string& name) const { return h_->dir.File("pve/" + name); }
  // segw-check with the gateway's role and `args`.
  testing::CommandResult Check(const std::string& args, uint16_t port = 0) const {
    return testing::Run(testing::CliPath() + " segw-check --pve 127.0.0.1:" +
                        std::to_string(port == 0 ? server_->port() : port) + " --ca " +
                        Pve("ca.pem") + " --cert " + Pve("segw.pem") + " --key " + Pve("segw.key") +
                        " " + args);
  }
  // The audit log's access decisions about `device`, oldest first.
  std::vector<std::string> AuditEvents(const std::string& device) {
    std::vector<std::string> out;
    const Json audit = Get("/v1/audit?limit=1000");
    for (const auto& e : audit["entries"]) {
      const std::string event = e["event"].get<std::string>();
      if (e["subject"] == "device:" + device && event.rfind("access ", 0) == 0)
        out.push_back(event);
    }
    return out;
  }
};

TEST_P(SegwCheckTest, ExitsZeroToAdmitOneToRefuseWithALineSayingWhy) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("henb-ok"));
  fleet.push_back(AddDevice("henb-never"));
  ASSERT_EQ(Body(*AttestOnce(*fleet[0].client, fleet[0].device->tre()))["status"], "affirming");

  auto r = Check("henb-ok");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "admit henb-ok: affirming attestation result (appraisal 1)\n");
  r = Check("henb-never");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "refuse henb-never: never appraised\n");
  r = Check("henb-nobody");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "refuse henb-nobody: not enrolled\n");

  // The age of the latest result: the gateway's bound, where smaller than the PVE's.
  h_->now += 100;
  r = Check("--max-age 50 henb-ok");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "refuse henb-ok: latest attestation result is 100 s old, more than 50 s\n");
  EXPECT_EQ(Check("--max-age 500 henb-ok").exit_code, 0);

  // The certificate the device presented: its own, or one that no longer speaks for it.
  const std::string serial =
      Certificate::FromPem(fleet[0].credentials.certificate_pem)->SerialHex();
  EXPECT_EQ(Check("--certificate-serial " + serial + " henb-ok").exit_code, 0);
  // Upper or lower case: the same serial. A device id after "--" (as the hook passes it).
  std::string lower = serial;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(Check("--certificate-serial " + lower + " -- henb-ok").exit_code, 0);
  r = Check("--certificate-serial 0BADC0DE henb-ok");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("certificate 0BADC0DE no longer speaks for the device"), std::string::npos)
      << r.out;

  // Each of the gateway's decisions is audited, the operator's questions are not.
  auto asked = operator_->Request("GET", "/v1/devices/henb-ok/access-decision");
  ASSERT_TRUE(asked.ok());
  EXPECT_EQ(asked->status, 200);
  const auto events = AuditEvents("henb-ok");
  // The same decision again within a minute is not recorded again: ok,
  // max-age 500, serial (upper and lower case: the same detail).
  EXPECT_EQ(std::count(events.begin(), events.end(), "access admitted"), 3);
  EXPECT_EQ(std::count(events.begin(), events.end(), "access refused"), 2);
  for (int i = 0; i < 5; ++i) Check("henb-never");  // a device that reconnects in a loop
  EXPECT_EQ(AuditEvents("henb-never").size(), 2u);  // at t and at t + 100 s
  h_->now += 61;
  Check("henb-never");
  EXPECT_EQ(AuditEvents("henb-never").size(), 3u);
  EXPECT_EQ(AuditEvents("henb-nobody"), std::vector<std::string>{"access refused"});
}

TEST_P(SegwCheckTest, AnUnreachablePveFollowsThePolicyAndBadInputIsExitTwo) {
  // A port nobody listens on.
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  socklen_t len = sizeof at;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&at), &len);
  const uint16_t closed = ntohs(at.sin_port);
  ::close(fd);

  auto r = Check("henb-1", closed);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.out.find("refuse henb-1: the PVE cannot be reached ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("; policy --unreachable refuse"), std::string::npos) << r.out;
  r = Check("--unreachable admit henb-1", closed);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("admit henb-1: the PVE cannot be reached ("), std::string::npos) << r.out;

  // Usage and I/O errors: exit 2, a message on stderr, nothing on stdout.
  for (const std::string& args :
       {std::string("'bad id'"), std::string("--unreachable sometimes henb-1"),
        std::string("--max-age 0 henb-1"), std::string("--certificate-serial xyz henb-1"),
        std::string("-- -h")}) {
    r = Check(args);
    EXPECT_EQ(r.exit_code, 2) << args << ": " << r.out;
    EXPECT_EQ(r.out, "") << args;
    EXPECT_NE(r.err, "") << args;
  }
  // Not the gateway's key, a missing file.
  r = testing::Run(testing::CliPath() + " segw-check --pve 127.0.0.1:" +
                   std::to_string(server_->port()) + " --ca " + Pve("ca.pem") + " --cert " +
                   Pve("segw.pem") + " --key " + Pve("operator.key") + " henb-1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is not the key of"), std::string::npos) << r.err;
  r = testing::Run(testing::CliPath() + " segw-check --pve 127.0.0.1:" +
                   std::to_string(server_->port()) + " --ca " + Pve("ca.pem") + " --cert " +
                   Pve("nothing.pem") + " --key " + Pve("segw.key") + " henb-1");
  EXPECT_EQ(r.exit_code, 2);
  // Another role's certificate: the PVE refuses the question (403), which is
  // the gateway's misconfiguration, not a verdict.
  const FleetDevice d = AddDevice("henb-1");
  testing::TempDir tmp;
  std::ofstream(tmp.File("device.pem")) << d.credentials.certificate_pem;
  std::ofstream(tmp.File("device.key")) << d.credentials.private_key_pem;
  r = testing::Run(testing::CliPath() + " segw-check --unreachable admit --pve 127.0.0.1:" +
                   std::to_string(server_->port()) + " --ca " + Pve("ca.pem") + " --cert " +
                   tmp.File("device.pem") + " --key " + tmp.File("device.key") + " henb-1");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_NE(r.err.find("403"), std::string::npos) << r.err;
}

TEST_P(SegwCheckTest, ThePveChecksTheQuestionAndAuditsARecheckOnlyWhenItRefuses) {
  std::vector<FleetDevice> fleet;
  fleet.push_back(AddDevice("henb-ok"));
  ASSERT_EQ(Body(*AttestOnce(*fleet[0].client, fleet[0].device->tre()))["status"], "affirming");
  auto segw = h_->Client(h_->RoleTls("segw"));
  for (const std::string& query :
       {std::string("max_age=0"), std::string("max_age=-1"), std::string("max_age=x"),
        std::string("max_age=999999999999"), std::string("occasion=sometimes")}) {
    auto r = segw->Request("GET", "/v1/devices/henb-ok/access-decision?" + query);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << query << ": " << r->body;
  }
  auto r = segw->Request("GET", "/v1/devices/henb-ok/access-decision?occasion=recheck&max_age=60");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(*r)["max_age"], 60);
  EXPECT_EQ(Body(*r)["decision"], "admit");
  EXPECT_TRUE(AuditEvents("henb-ok").empty());  // a recheck that keeps a tunnel
  h_->now += 61;
  r = segw->Request("GET", "/v1/devices/henb-ok/access-decision?occasion=recheck&max_age=60");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Body(*r)["decision"], "quarantine");
  EXPECT_EQ(AuditEvents("henb-ok"), std::vector<std::string>{"access withdrawn"});
  // Without max_age, a recheck bounds the age as a connection does: by the
  // PVE's --result-max-age. A tunnel lives as long as its device would be
  // admitted.
  r = segw->Request("GET", "/v1/devices/henb-ok/access-decision?occasion=recheck");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Body(*r)["decision"], "admit") << r->body;
  EXPECT_EQ(Body(*r)["max_age"], h_->pve->config.result_max_age);
  h_->now += h_->pve->config.result_max_age;
  r = segw->Request("GET", "/v1/devices/henb-ok/access-decision?occasion=recheck");
  EXPECT_EQ(Body(*r)["decision"], "quarantine") << r->body;
  h_->now -= h_->pve->config.result_max_age;
  // A recheck that keeps the tunnel between two refusals: both are recorded.
  EXPECT_EQ(AuditEvents("henb-ok"),
            (std::vector<std::string>{"access withdrawn", "access withdrawn"}));

  // segw-watch --once: the gateway lists its tunnels; those of a device
  // refused now are cut by the cut command, given each one's id and device
  // in its environment.
  const std::string cuts = h_->dir.File("cuts");
  const std::string watch =
      testing::CliPath() + " segw-watch --once --pve 127.0.0.1:" + std::to_string(server_->port()) +
      " --ca " + Pve("ca.pem") + " --cert " + Pve("segw.pem") + " --key " + Pve("segw.key") +
      " --max-age 60 --list-command 'printf \"9 henb-ok\\n10 henb-ok\\n11 -\\n\"'";
  auto ran = testing::Run(
      watch + " --cut-command 'echo \"$HENBTRUST_TUNNEL $HENBTRUST_DEVICE\" >>" + cuts + "'");
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_NE(ran.out.find("cut tunnel 9: refuse henb-ok: latest attestation result is 61 s old"),
            std::string::npos)
      << ran.out;
  EXPECT_NE(ran.out.find("cut tunnel 11: refuse: the gateway's identity for it names no device"),
            std::string::npos)
      << ran.out;
  EXPECT_EQ(Slurp(cuts), "9 henb-ok\n10 henb-ok\n11 -\n");
  // A cut command that fails, a list command that fails: exit 1, and why.
  ran = testing::Run(watch + " --cut-command false");
  EXPECT_EQ(ran.exit_code, 1) << ran.out;
  EXPECT_NE(ran.out.find("'false' exited 1"), std::string::npos) << ran.out;
  ran = testing::Run(watch.substr(0, watch.find(" --list-command")) +
                     " --list-command 'exit 3' --cut-command true");
  EXPECT_EQ(ran.exit_code, 1) << ran.out;
  EXPECT_NE(ran.out.find("cannot list the gateway's tunnels: core.io: 'exit 3' exited 3"),
            std::string::npos)
      << ran.out;
  // A list command that hangs is killed at --command-timeout, with what it
  // started.
  const auto start = std::chrono::steady_clock::now();
  ran = testing::Run(watch.substr(0, watch.find(" --list-command")) +
                     " --command-timeout 1 --list-command 'sleep 30.25 & sleep 30.25'"
                     " --cut-command true");
  EXPECT_EQ(ran.exit_code, 1) << ran.out;
  EXPECT_LT(MillisSince(start), 10'000);
  EXPECT_NE(ran.out.find("took longer than 1 s; killed"), std::string::npos) << ran.out;
  EXPECT_TRUE(
      Eventually([] { return testing::Run("pgrep -f 'sleep 30[.]25'").exit_code != 0; }, 5s))
      << testing::Run("pgrep -af 'sleep 30[.]25'").out;
}

INSTANTIATE_TEST_SUITE_P(Sqlite, SegwCheckTest, ::testing::Values("sqlite"));

}  // namespace
}  // namespace henbtrust
