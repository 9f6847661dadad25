// Certificate renewal and decommissioning at the PVE, over HTTPS, on SQLite
// and on PostgreSQL: a device enrolled 364 days ago (by the PVE's clock)
// renews over its current certificate with an affirming appraisal made for
// the renewal and goes on with the new one while the old one is refused; a
// non-affirming appraisal or a swapped key changes nothing; a decommissioned
// device is refused.
#include "henbtrust/agent/renewal.h"
#include "henbtrust/agent/credential_store.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "henbtrust/net/identity_protocol.h"
#include "pve/pve_harness.h"
#include "support/postgres.h"

namespace henbtrust {
namespace {

using Json = nlohmann::json;
using testing::PveHarness;

constexpr int64_t kDay = 86'400;

Json Body(const HttpResponse& r) { return Json::parse(r.body, nullptr, false); }

std::string CodeOf(const HttpResponse& r) {
  const Json j = Body(r);
  if (!j.is_object() || !j.contains("error")) return "";
  return j["error"].value("code", "");
}

int64_t NotAfter(const std::string& pem) {
  return std::chrono::system_clock::to_time_t(Certificate::FromPem(pem)->NotAfter());
}

class RenewalTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    std::unique_ptr<Store> store;
    if (GetParam() == "postgres") {
      if (pg_ == nullptr) pg_ = new testing::PostgresServer();
      ASSERT_TRUE(pg_->ok()) << pg_->error();
      auto s = OpenPostgresStore(pg_->NewDatabase());
      ASSERT_TRUE(s.ok()) << s.error().ToString();
      store = std::move(s).value();
    }
    h_ = std::make_unique<PveHarness>(std::move(store));
  }

  // A device enrolled when the PVE's clock read `days` days ago.
  PveHarness::Device EnrolledDaysAgo(const std::string& id, int64_t days) {
    const int64_t now = h_->now;
    h_->now = now - days * kDay;
    auto d = h_->Enrolled(id);
    h_->now = now;
    return d;
  }

  std::string SerialOf(const std::string& id) {
    auto d = h_->store->GetDevice(id);
    return d.ok() && d->has_value() ? (*d)->certificate_serial : "";
  }

  std::vector<AuditEntry> Audit() { return *h_->store->ListAudit(0, 1000); }

  static testing::PostgresServer* pg_;
  std::unique_ptr<PveHarness> h_;
};

testing::PostgresServer* RenewalTest::pg_ = nullptr;

TEST_P(RenewalTest, ADeviceEnrolled364DaysAgoRenewsAndItsOldCertificateIsRefused) {
  auto d = EnrolledDaysAgo("henb-r1", 364);
  ASSERT_TRUE(d.client);
  const int64_t now = h_->now;
  // Issued on the PVE's clock: a day left.
  EXPECT_NEAR(NotAfter(d.credentials.certificate_pem), now + kDay, 5);
  const std::string old_serial = SerialOf("henb-r1");

  auto renewed = RenewCertificate(*d.client, *d.tre, d.id, d.credentials);
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  auto cert = Certificate::FromPem(renewed->certificate_pem);
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->SubjectField("CN"), "henb-r1");
  EXPECT_EQ(cert->SubjectField("O"), kRoleDevice);
  EXPECT_NEAR(NotAfter(renewed->certificate_pem), now + 365 * kDay, 5);
  EXPECT_NE(cert->SerialHex(), old_serial);
  EXPECT_EQ(SerialOf("henb-r1"), cert->SerialHex());
  EXPECT_NE(renewed->private_key_pem, d.credentials.private_key_pem);
  EXPECT_EQ(renewed->ca_pem, d.credentials.ca_pem);

  // The new identity is served; the old one is refused, on a new connection
  // as on the one it had open.
  auto fresh = h_->Client(DeviceTls(*renewed));
  ASSERT_TRUE(fresh);
  auto pushed = AttestOnce(*fresh, *d.tre);
  ASSERT_TRUE(pushed.ok()) << pushed.error().ToString();
  EXPECT_EQ(pushed->status, 200) << pushed->body;
  EXPECT_EQ(Body(*pushed)["status"], "affirming");
  auto reconnected = h_->Client(DeviceTls(d.credentials));
  for (HttpClient* old : {d.client.get(), reconnected.get()}) {
    ASSERT_NE(old, nullptr);
    auto refused = old->Request("POST", "/v1/nonces", "application/json", "{}");
    ASSERT_TRUE(refused.ok()) << refused.error().ToString();
    EXPECT_EQ(refused->status, 401) << refused->body;
    EXPECT_EQ(CodeOf(*refused), "net.unauthenticated");
  }
  // A second renewal over the replaced certificate is refused too.
  EXPECT_FALSE(RenewCertificate(*d.client, *d.tre, d.id, d.credentials).ok());

  // One audit entry, in the chain: old serial -> new serial, and the expiry.
  const auto entries = Audit();
  ASSERT_FALSE(entries.empty());
  const AuditEntry& last = entries.back();
  EXPECT_EQ(last.event, "certificate renewed");
  EXPECT_EQ(last.actor, "device:henb-r1");
  EXPECT_NE(last.detail.find(old_serial + " -> " + cert->SerialHex()), std::string::npos)
      << last.detail;
  EXPECT_NE(last.detail.find("valid until " + FormatUtc(now + 365 * kDay)), std::string::npos)
      << last.detail;
  EXPECT_TRUE(VerifyAuditChain(*h_->store).ok());
  // The appraisal made for the renewal is recorded like a push's.
  auto latest = h_->store->LatestAppraisal("henb-r1");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->status, "affirming");
}

// The agent's round: nothing while the certificate is far from its expiry;
// once due (by the agent's clock), it renews, keeps the new identity on
// disk and goes on with it.
TEST_P(RenewalTest, TheAgentRenewsOnceDueAndKeepsTheNewIdentity) {
  auto d = EnrolledDaysAgo("henb-a1", 364);
  ASSERT_TRUE(d.client);
  RenewalRound round;
  round.device_id = d.id;
  round.dir = h_->dir.File("henb-a1-agent");
  ASSERT_TRUE(StoreCredentials(round.env, round.dir, d.credentials).ok());
  DeviceCredentials creds = d.credentials;

  // 200 days ago by the agent's clock, the certificate had 165 days left.
  const size_t audited = Audit().size();
  round.now = h_->now - 200 * kDay;
  auto early = RenewIfDue(*d.client, *d.tre, round, &creds);
  ASSERT_TRUE(early.ok()) << early.error().ToString();
  EXPECT_FALSE(*early);
  EXPECT_EQ(creds.certificate_pem, d.credentials.certificate_pem);
  EXPECT_EQ(Audit().size(), audited);

  round.now = h_->now;  // a day left
  auto renewed = RenewIfDue(*d.client, *d.tre, round, &creds);
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  EXPECT_TRUE(*renewed);
  EXPECT_NE(creds.certificate_pem, d.credentials.certificate_pem);
  auto kept = LoadCredentials(round.env, round.dir, creds.ca_pem);
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->certificate_pem, creds.certificate_pem);
  EXPECT_EQ((*kept)->private_key_pem, creds.private_key_pem);
  EXPECT_FALSE(*RenewalDue(creds.certificate_pem, h_->now, kDefaultRenewalWindowSeconds));

  // Reachable with what it kept; the old identity is not.
  auto next = h_->Client(DeviceTls(**kept));
  ASSERT_TRUE(next);
  auto pushed = AttestOnce(*next, *d.tre);
  ASSERT_TRUE(pushed.ok()) << pushed.error().ToString();
  EXPECT_EQ(pushed->status, 200) << pushed->body;
  auto old = h_->Client(DeviceTls(d.credentials));
  ASSERT_TRUE(old);
  EXPECT_EQ(old->Request("POST", "/v1/nonces", "application/json", "{}")->status, 401);
}

// A refused renewal leaves the agent's identity, in memory and on disk, as
// it was: the next round tries again.
TEST_P(RenewalTest, ARefusedRenewalLeavesTheAgentsIdentity) {
  auto d = EnrolledDaysAgo("henb-a2", 360);
  ASSERT_TRUE(d.client);
  RenewalRound round;
  round.device_id = d.id;
  round.dir = h_->dir.File("henb-a2-agent");
  round.now = h_->now;
  ASSERT_TRUE(StoreCredentials(round.env, round.dir, d.credentials).ok());
  DeviceCredentials creds = d.credentials;
  h_->Boot(*d.tre, {{"femto", "a femto stack nobody signed"}});
  auto refused = RenewIfDue(*d.client, *d.tre, round, &creds);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("policy.renewal"), std::string::npos)
      << refused.error().message();
  EXPECT_EQ(creds.certificate_pem, d.credentials.certificate_pem);
  EXPECT_EQ(creds.private_key_pem, d.credentials.private_key_pem);
  auto kept = LoadCredentials(round.env, round.dir, creds.ca_pem);
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->certificate_pem, d.credentials.certificate_pem);
  EXPECT_EQ(d.client->Request("POST", "/v1/nonces", "application/json", "{}")->status, 200);
  // Booted into the reference again, the next round renews.
  h_->Boot(*d.tre);
  auto renewed = RenewIfDue(*d.client, *d.tre, round, &creds);
  ASSERT_TRUE(renewed.ok()) << renewed.error().ToString();
  EXPECT_TRUE(*renewed);
}

TEST_P(RenewalTest, ANonAffirmingAppraisalRenewsNothing) {
  auto d = EnrolledDaysAgo("henb-r2", 350);
  ASSERT_TRUE(d.client);
  const std::string serial = SerialOf("henb-r2");
  const size_t audited = Audit().size();
  h_->Boot(*d.tre, {{"kernel", "a kernel nobody signed"}});
  auto refused = RenewCertificate(*d.client, *d.tre, d.id, d.credentials);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kNetStatus);
  EXPECT_NE(refused.error().message().find("HTTP 403"), std::string::npos)
      << refused.error().message();
  EXPECT_NE(refused.error().message().find("policy.renewal"), std::string::npos);
  EXPECT_NE(refused.error().message().find("contraindicated"), std::string::npos);
  EXPECT_NE(refused.error().message().find("is not the expected TIM"), std::string::npos)
      << refused.error().message();
  // Nothing changed but the appraisal on record; the certificate still works.
  EXPECT_EQ(SerialOf("henb-r2"), serial);
  EXPECT_EQ(Audit().size(), audited);
  EXPECT_EQ((*h_->store->LatestAppraisal("henb-r2"))->status, "contraindicated");
  auto still = d.client->Request("POST", "/v1/nonces", "application/json", "{}");
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->status, 200) << still->body;
}

// The quote binds the key: evidence made for one key cannot carry another,
// even one the device holds, and a key the device does not hold is refused.
TEST_P(RenewalTest, TheKeyTheQuoteBindsCannotBeSwapped) {
  auto d = EnrolledDaysAgo("henb-r3", 340);
  ASSERT_TRUE(d.client);
  const std::string serial = SerialOf("henb-r3");
  auto renew = [&](bool swap_key, bool foreign_signature) {
    auto issued = d.client->Request("POST", "/v1/nonces", "application/json", "{}");
    EXPECT_TRUE(issued.ok());
    PushNonce nonce = *NonceFromAnswer(issued->body);
    const PrivateKey quoted = *PrivateKey::Generate(KeyType::kEcP256);
    const PrivateKey sent = swap_key ? *PrivateKey::Generate(KeyType::kEcP256) : quoted;
    const Bytes quoted_key = quoted.Public().ToDer();
    const Bytes sent_key = sent.Public().ToDer();
    Quote quote =
        *d.tre->MakeQuote(RenewalQualifyingData(d.id, nonce.nonce, quoted_key), nonce.selection);
    RenewalRequest r;
    r.evidence.nonce = nonce.nonce;
    r.evidence.attest = quote.attest;
    r.evidence.signature = quote.signature;
    r.tls_public_key = sent_key;
    const PrivateKey signer = foreign_signature ? *PrivateKey::Generate(KeyType::kEcP256) : sent;
    r.tls_signature = *signer.Sign(SignatureScheme::kEcdsa, HashAlg::kSha256,
                                   RenewalContext(d.id, nonce.nonce, sent_key));
    auto answer = d.client->Request("POST", "/v1/devices/henb-r3/certificate-renewal",
                                    "application/json", EncodeRenewalRequest(r));
    EXPECT_TRUE(answer.ok());
    return *answer;
  };
  const HttpResponse swapped = renew(/*swap_key=*/true, false);
  EXPECT_EQ(swapped.status, 403) << swapped.body;
  EXPECT_EQ(CodeOf(swapped), "policy.renewal");
  EXPECT_NE(swapped.body.find("quote.nonce-mismatch"), std::string::npos) << swapped.body;
  const HttpResponse not_held = renew(false, /*foreign_signature=*/true);
  EXPECT_EQ(not_held.status, 403) << not_held.body;
  EXPECT_NE(not_held.body.find("does not hold the new key"), std::string::npos) << not_held.body;
  EXPECT_EQ(SerialOf("henb-r3"), serial);
  // The same, made honestly, renews.
  const HttpResponse honest = renew(false, false);
  EXPECT_EQ(honest.status, 200) << honest.body;
  EXPECT_NE(SerialOf("henb-r3"), serial);
}

// Only the device itself, over its current certificate, renews; another
// device's certificate and an operator's are refused.
TEST_P(RenewalTest, OnlyTheDeviceItselfRenews) {
  auto a = EnrolledDaysAgo("henb-r4", 340);
  auto b = EnrolledDaysAgo("henb-r5", 340);
  ASSERT_TRUE(a.client && b.client);
  auto as_b = b.client->Request("POST", "/v1/devices/henb-r4/certificate-renewal",
                                "application/json", "{}");
  ASSERT_TRUE(as_b.ok());
  EXPECT_EQ(as_b->status, 403) << as_b->body;
  EXPECT_EQ(CodeOf(*as_b), "net.forbidden");
  auto op = h_->Client(h_->RoleTls("operator"));
  auto as_operator =
      op->Request("POST", "/v1/devices/henb-r4/certificate-renewal", "application/json", "{}");
  ASSERT_TRUE(as_operator.ok());
  EXPECT_EQ(as_operator->status, 403) << as_operator->body;
  EXPECT_TRUE(RenewCertificate(*a.client, *a.tre, a.id, a.credentials).ok());
}

// Decommissioned by an operator: the PVE refuses the device's requests, its
// renewal and a new enrollment, and says so once.
TEST_P(RenewalTest, ADecommissionedDeviceIsRefused) {
  auto d = EnrolledDaysAgo("henb-r6", 10);
  ASSERT_TRUE(d.client);
  const std::string serial = SerialOf("henb-r6");
  auto op = h_->Client(h_->RoleTls("operator"));
  auto done = op->Request("POST", "/v1/devices/henb-r6/decommissioning", "application/json",
                          R"({"reason":"site closed"})");
  ASSERT_TRUE(done.ok());
  ASSERT_EQ(done->status, 200) << done->body;
  auto answer = DecodeDecommissionAnswer(done->body);
  ASSERT_TRUE(answer.ok()) << answer.error().ToString();
  EXPECT_EQ(answer->state, kDeviceDecommissioned);
  EXPECT_EQ(answer->certificate_serial, serial);
  EXPECT_EQ(*h_->store->RefusedCertificateSerials(), std::vector<std::string>{serial});

  // A new connection fails at the TLS handshake; one opened before is
  // refused by the PVE.
  auto reconnect = HttpClient::Connect("127.0.0.1", h_->port(), DeviceTls(d.credentials));
  if (reconnect.ok()) {  // TLS 1.3: the client may finish before the server refuses
    auto r = (*reconnect)->Request("POST", "/v1/nonces", "application/json", "{}");
    EXPECT_FALSE(r.ok()) << "answered " << r->status << " " << r->body;
  }
  auto nonce = d.client->Request("POST", "/v1/nonces", "application/json", "{}");
  ASSERT_TRUE(nonce.ok()) << nonce.error().ToString();
  EXPECT_EQ(nonce->status, 401) << nonce->body;
  EXPECT_NE(nonce->body.find("decommissioned"), std::string::npos) << nonce->body;
  // Other devices are served.
  auto other = EnrolledDaysAgo("henb-r7", 10);
  ASSERT_TRUE(other.client);
  EXPECT_EQ(other.client->Request("POST", "/v1/nonces", "application/json", "{}")->status, 200);
  auto renewal = RenewCertificate(*d.client, *d.tre, d.id, d.credentials);
  ASSERT_FALSE(renewal.ok());
  EXPECT_NE(renewal.error().message().find("HTTP 401"), std::string::npos)
      << renewal.error().message();
  auto again = Enroll("127.0.0.1", h_->port(), h_->CaPem(), *d.tre, h_->Request(d.id, *d.tre));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message().find("policy.enrollment"), std::string::npos)
      << again.error().message();

  auto twice = op->Request("POST", "/v1/devices/henb-r6/decommissioning", "application/json", "{}");
  ASSERT_TRUE(twice.ok());
  EXPECT_EQ(twice->status, 409) << twice->body;
  EXPECT_EQ(CodeOf(*twice), "policy.state");
  auto unknown =
      op->Request("POST", "/v1/devices/nobody/decommissioning", "application/json", "{}");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(CodeOf(*unknown), "policy.unknown-device");
  auto by_device =
      d.client->Request("POST", "/v1/devices/henb-r6/decommissioning", "application/json", "{}");
  ASSERT_TRUE(by_device.ok());
  EXPECT_EQ(by_device->status, 403) << by_device->body;

  // One audit entry, by the operator, naming the certificate and the reason.
  const auto entries = Audit();
  const auto it = std::find_if(entries.begin(), entries.end(), [](const AuditEntry& e) {
    return e.event == "device decommissioned";
  });
  ASSERT_NE(it, entries.end());
  EXPECT_EQ(std::count_if(entries.begin(), entries.end(),
                          [](const AuditEntry& e) { return e.event == "device decommissioned"; }),
            1);
  const std::string operator_cn =
      Certificate::FromPem(testing::ReadText(h_->dir.File("pve/operator.pem")))->SubjectField("CN");
  EXPECT_EQ(it->actor, "operator:" + operator_cn);
  EXPECT_EQ(it->subject, "device:henb-r6");
  EXPECT_NE(it->detail.find(serial), std::string::npos) << it->detail;
  EXPECT_NE(it->detail.find("site closed"), std::string::npos) << it->detail;
}

INSTANTIATE_TEST_SUITE_P(Backends, RenewalTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace henbtrust
