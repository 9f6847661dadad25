// The PVE over HTTPS: enrollment, push and pull appraisal, results and the
// access decision, and bad input from the network, each answered with a
// clear 4xx while the service goes on serving everyone else.
#include "henbtrust/pve/service.h"
#include "henbtrust/core/json_text.h"
#include "henbtrust/pve/ear.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <random>
#include <set>

#include "pve/pve_harness.h"

namespace henbtrust {
namespace {

using Json = nlohmann::json;
using testing::PveHarness;

Json Body(const HttpResponse& r) {
  Json j = Json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << r.body;
  return j;
}

std::string CodeOf(const HttpResponse& r) {
  const Json j = Body(r);
  if (!j.is_object() || !j.contains("error")) return "";
  return j["error"].value("code", "");
}

HttpResponse Post(HttpClient& c, const std::string& target, const std::string& body,
                  const std::string& type = "application/json") {
  auto r = c.Request("POST", target, type, body);
  EXPECT_TRUE(r.ok()) << r.error().ToString();
  return r.ok() ? std::move(r).value() : HttpResponse{0, "", "", {}};
}

HttpResponse Get(HttpClient& c, const std::string& target) {
  auto r = c.Request("GET", target);
  EXPECT_TRUE(r.ok()) << r.error().ToString();
  return r.ok() ? std::move(r).value() : HttpResponse{0, "", "", {}};
}

// A fresh nonce for `d` and the PCR selection to quote.
std::pair<Bytes, std::vector<PcrSelection>> Nonce(PveHarness::Device& d) {
  const HttpResponse r = Post(*d.client, "/v1/nonces", "{}");
  EXPECT_EQ(r.status, 200) << r.body;
  const Json j = Body(r);
  return {*Base64Decode(j["nonce"].get<std::string>()),
          *ParsePcrSelectionSpec(j["pcr_selection"].get<std::string>())};
}

class PveServiceTest : public ::testing::Test {
 protected:
  PveHarness h_;
};

TEST_F(PveServiceTest, EnrolledDeviceIsAffirmedByPushAndAdmitted) {
  auto d = h_.Enrolled("henb-0001");
  ASSERT_TRUE(d.client);
  // The device certificate names the device and its role, from the client CA.
  auto cert = Certificate::FromPem(d.credentials.certificate_pem);
  ASSERT_TRUE(cert.ok());
  EXPECT_EQ(cert->SubjectField("CN"), "henb-0001");
  EXPECT_EQ(cert->SubjectField("O"), kRoleDevice);
  EXPECT_TRUE(VerifyChain(*cert, {}, {h_.pve->config.client_ca}).ok());

  auto answer = AttestOnce(*d.client, *d.tre);
  ASSERT_TRUE(answer.ok()) << answer.error().ToString();
  ASSERT_EQ(answer->status, 200) << answer->body;
  const Json result = Body(*answer);
  EXPECT_EQ(result["status"], "affirming");
  EXPECT_EQ(result["tim"], HexEncode(ExpectedTim(h_.reference)));
  EXPECT_TRUE(result["appraisal_id"].is_number_integer());
  EXPECT_TRUE(result["next_nonce"]["nonce"].is_string());
  // The answer is written as text: it reads as nlohmann writes the same members.
  EXPECT_EQ(result.dump(), answer->body);
  // The attestation result is an ES256 JWT by the PVE's EAR key.
  auto claims =
      VerifyEar(result["attestation_result"].get<std::string>(), h_.pve->config.ear_key.Public());
  ASSERT_TRUE(claims.ok()) << claims.error().ToString();
  EXPECT_EQ(claims->status, ArStatus::kAffirming);
  EXPECT_EQ(claims->device_id, "henb-0001");
  EXPECT_EQ(claims->vector.WorstTier(), TrustTier::kAffirming);

  auto segw = h_.Client(h_.RoleTls("segw"));
  const Json decision = Body(Get(*segw, "/v1/devices/henb-0001/access-decision"));
  EXPECT_EQ(decision["decision"], "admit") << decision.dump();
  const Json latest = Body(Get(*segw, "/v1/devices/henb-0001/attestation-result"));
  EXPECT_EQ(latest["attestation_result"], result["attestation_result"]);
  // An old result no longer admits.
  h_.now += h_.pve->config.result_max_age + 1;
  EXPECT_EQ(Body(Get(*segw, "/v1/devices/henb-0001/access-decision"))["decision"], "quarantine");
}

TEST_F(PveServiceTest, AModifiedComponentIsContraindicatedByNameAndQuarantined) {
  auto d = h_.Enrolled("henb-0002");
  ASSERT_TRUE(d.client);
  h_.Boot(*d.tre, {{"femto", "an implanted femto stack"}});
  auto answer = AttestOnce(*d.client, *d.tre);
  ASSERT_TRUE(answer.ok());
  ASSERT_EQ(answer->status, 200) << answer->body;  // the evidence verifies; the device is bad
  const Json result = Body(*answer);
  EXPECT_EQ(result["status"], "contraindicated");
  bool named = false;
  for (const auto& c : result["components"]) {
    if (c["id"] == "femto") {
      named = true;
      EXPECT_EQ(c["status"], "contraindicated");
    } else {
      EXPECT_EQ(c["status"], "affirming") << c.dump();
    }
  }
  EXPECT_TRUE(named);
  auto segw = h_.Client(h_.RoleTls("segw"));
  const Json decision = Body(Get(*segw, "/v1/devices/henb-0002/access-decision"));
  EXPECT_EQ(decision["decision"], "quarantine");
  EXPECT_EQ(decision["status"], "contraindicated");
  // Why, in the answer, the latest result and the decision: unrecognised executables.
  EXPECT_EQ(result["trustworthiness_vector"]["executables"], int{ar4si::kUnrecognizedRuntime});
  EXPECT_EQ(decision["trustworthiness_vector"], result["trustworthiness_vector"]);
  EXPECT_NE(decision["reason"].get<std::string>().find("executables 33 (unrecognised executables)"),
            std::string::npos)
      << decision.dump();
  const Json latest = Body(Get(*segw, "/v1/devices/henb-0002/attestation-result"));
  EXPECT_EQ(latest["trustworthiness_vector"], result["trustworthiness_vector"]);
}

// The decision reads the signed result, not the row beside it: a store
// changed behind the PVE's back does not admit a device.
TEST_F(PveServiceTest, TheAccessDecisionReadsTheSignedResultNotTheStoresRow) {
  auto d = h_.Enrolled("henb-0004");
  ASSERT_TRUE(d.client);
  h_.Boot(*d.tre, {{"femto", "an implanted femto stack"}});
  ASSERT_EQ(AttestOnce(*d.client, *d.tre)->status, 200);
  auto latest = h_.store->LatestAppraisal("henb-0004");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  AppraisalRecord forged = **latest;
  forged.status = "affirming";  // the row lies; the signed token still says contraindicated
  ASSERT_TRUE(h_.store->RecordAppraisal(forged).ok());
  auto segw = h_.Client(h_.RoleTls("segw"));
  Json decision = Body(Get(*segw, "/v1/devices/henb-0004/access-decision"));
  EXPECT_EQ(decision["decision"], "quarantine") << decision.dump();
  EXPECT_EQ(decision["status"], "contraindicated");
  // A token that is not this PVE's: no result at all.
  auto other = PrivateKey::Generate(KeyType::kEcP256);
  AppraisalResult fake;
  fake.device_id = "henb-0004";
  fake.status = ArStatus::kAffirming;
  fake.vector.Set(TrustClaim::kExecutables, ar4si::kApprovedBoot);
  forged.result = *EncodeEar(fake, *other, "someone-else");
  ASSERT_TRUE(h_.store->RecordAppraisal(forged).ok());
  decision = Body(Get(*segw, "/v1/devices/henb-0004/access-decision"));
  EXPECT_EQ(decision["decision"], "quarantine") << decision.dump();
  EXPECT_NE(decision["reason"].get<std::string>().find("does not verify"), std::string::npos);
  EXPECT_FALSE(decision.contains("status"));

  // Another device's affirming result, signed by this PVE, copied into this
  // device's row; and this device's own old result with a fresh row time.
  auto other_device = h_.Enrolled("henb-0006");
  ASSERT_TRUE(other_device.client);
  ASSERT_EQ(Body(*AttestOnce(*other_device.client, *other_device.tre))["status"], "affirming");
  AppraisalRecord copied = **h_.store->LatestAppraisal("henb-0006");
  copied.device_id = "henb-0004";
  ASSERT_TRUE(h_.store->RecordAppraisal(copied).ok());
  decision = Body(Get(*segw, "/v1/devices/henb-0004/access-decision"));
  EXPECT_EQ(decision["decision"], "quarantine") << decision.dump();
  EXPECT_NE(decision["reason"].get<std::string>().find("henb-0006's, not this device's"),
            std::string::npos)
      << decision.dump();
  // Nor does the latest result (what the OAM issues tickets on) pass it off.
  const HttpResponse latest_copied = Get(*segw, "/v1/devices/henb-0004/attestation-result");
  EXPECT_EQ(latest_copied.status, 500) << latest_copied.body;
  EXPECT_NE(latest_copied.body.find("henb-0006's, not henb-0004's"), std::string::npos)
      << latest_copied.body;
  EXPECT_EQ(Body(Get(*segw, "/v1/devices/henb-0006/access-decision"))["decision"], "admit");
  AppraisalRecord old = **h_.store->LatestAppraisal("henb-0006");
  h_.now += h_.pve->config.result_max_age + 10;
  old.created_at = h_.now;  // the row says now; the signed iat does not
  ASSERT_TRUE(h_.store->RecordAppraisal(old).ok());
  decision = Body(Get(*segw, "/v1/devices/henb-0006/access-decision"));
  EXPECT_EQ(decision["decision"], "quarantine") << decision.dump();
  EXPECT_NE(decision["reason"].get<std::string>().find(" s old, more than 86400 s"),
            std::string::npos);
}

TEST_F(PveServiceTest, ARevokedReleaseIsContraindicated) {
  auto d = h_.Enrolled("henb-0003");
  ASSERT_TRUE(d.client);
  auto op = h_.Client(h_.RoleTls("operator"));
  const std::string path =
      "/v1/releases/" + h_.reference.release_id + "/" + h_.reference.version + "/revocation";
  EXPECT_EQ(Post(*op, path, R"({"reason":"CVE-2026-0001 in the kernel"})").status, 200);
  EXPECT_EQ(CodeOf(Post(*op, "/v1/releases/none/1.0/revocation", R"({"reason":"x"})")),
            "policy.unknown-release");
  auto answer = AttestOnce(*d.client, *d.tre);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(Body(*answer)["status"], "contraindicated");
  EXPECT_NE(Body(*answer)["detail"].get<std::string>().find("revoked"), std::string::npos);
  // A genuine release now revoked reads apart from a modified one.
  const Json vector = Body(*answer)["trustworthiness_vector"];
  EXPECT_EQ(vector["executables"], int{ar4si::kUnsafeRuntime}) << vector.dump();
  EXPECT_EQ(vector["configuration"], int{ar4si::kUnsupportableConfig}) << vector.dump();
}

// Revoking the release a device runs quarantines it at once, before any new
// appraisal, even with an affirming result of a minute ago.
TEST_F(PveServiceTest, RevokingTheReleaseQuarantinesItsDevicesAtOnce) {
  auto d = h_.Enrolled("henb-0005");
  ASSERT_TRUE(d.client);
  ASSERT_EQ(Body(*AttestOnce(*d.client, *d.tre))["status"], "affirming");
  auto segw = h_.Client(h_.RoleTls("segw"));
  EXPECT_EQ(Body(Get(*segw, "/v1/devices/henb-0005/access-decision"))["decision"], "admit");
  auto op = h_.Client(h_.RoleTls("operator"));
  ASSERT_EQ(
      Post(*op,
           "/v1/releases/" + h_.reference.release_id + "/" + h_.reference.version + "/revocation",
           R"({"reason":"CVE-2026-0002"})")
          .status,
      200);
  const Json decision = Body(Get(*segw, "/v1/devices/henb-0005/access-decision"));
  EXPECT_EQ(decision["decision"], "quarantine");
  EXPECT_NE(decision["reason"].get<std::string>().find("is revoked (CVE-2026-0002)"),
            std::string::npos)
      << decision.dump();
}

TEST_F(PveServiceTest, PullAppraisalAsksTheAgentOverMutualTls) {
  // The agent listens with its device certificate; the PVE connects with its
  // own client certificate and checks that the agent's names the device.
  auto tre = std::make_unique<SoftTre>(*SoftTre::Create());
  h_.Boot(*tre);
  std::mutex tre_mu;
  auto creds = Enroll("127.0.0.1", h_.port(), h_.CaPem(), *tre,
                      h_.Request("henb-pull", *tre, "127.0.0.1:1"));
  ASSERT_TRUE(creds.ok()) << creds.error().ToString();
  auto started = HttpServer::Start({}, ResponderTls(*creds), IntegrityResponder(*tre, tre_mu));
  ASSERT_TRUE(started.ok()) << started.error().ToString();
  auto agent = std::move(started).value();
  // The agent's port is known only now that it listens: record it.
  auto device = *h_.store->GetDevice("henb-pull");
  device->agent_address = "127.0.0.1:" + std::to_string(agent->port());
  ASSERT_TRUE(h_.store->PutDevice(*device).ok());

  auto op = h_.Client(h_.RoleTls("operator"));
  HttpResponse r = Post(*op, "/v1/devices/henb-pull/appraisals", "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Body(r)["status"], "affirming");
  // A tampered boot is caught the same way.
  {
    std::lock_guard<std::mutex> lock(tre_mu);
    h_.Boot(*tre, {{"kernel", "patched kernel"}});
  }
  r = Post(*op, "/v1/devices/henb-pull/appraisals", "");
  EXPECT_EQ(Body(r)["status"], "contraindicated");
  // Only the PVE may ask the agent for evidence: an operator certificate is refused.
  TlsConfig op_to_agent = h_.RoleTls("operator");
  op_to_agent.peer_ca = testing::ReadText(h_.dir.File("pve/client-ca.pem"));
  auto direct = HttpClient::Connect("127.0.0.1", agent->port(), op_to_agent,
                                    HttpClientOptions{.peer_uri = DeviceUri("henb-pull")});
  ASSERT_TRUE(direct.ok()) << direct.error().ToString();
  EXPECT_EQ(
      Post(**direct, "/v1/integrity-request", R"({"nonce":"AAAA","pcr_selection":"sha256:0"})")
          .status,
      401);
  // A device without an agent address can only push.
  auto pusher = h_.Enrolled("henb-push-only");
  EXPECT_EQ(CodeOf(Post(*op, "/v1/devices/henb-push-only/appraisals", "")), "policy.error");
  // An unreachable agent is a 502, not a hang or a crash.
  device->agent_address = "127.0.0.1:1";
  ASSERT_TRUE(h_.store->PutDevice(*device).ok());
  EXPECT_EQ(Post(*op, "/v1/devices/henb-pull/appraisals", "").status, 502);
}

TEST_F(PveServiceTest, EnrollmentRefusesWhatItCannotTrust) {
  auto tre = std::make_unique<SoftTre>(*SoftTre::Create());
  h_.Boot(*tre);
  auto anon = h_.Client(h_.RoleTls(""));
  auto enroll = [&](const Json& body) { return Post(*anon, "/v1/enrollments", body.dump()); };
  auto key = *PrivateKey::Generate(KeyType::kEcP256);
  Json good = {{"device_id", "henb-e"},
               {"hardware_model", "femto-a1"},
               {"release_id", h_.reference.release_id},
               {"release_version", h_.reference.version},
               {"ek_public", Base64Encode(tre->EkPublic())},
               {"ek_certificate", Base64Encode(h_.EkCertificate(*tre))},
               {"ak_public", Base64Encode(tre->AkPublic())},
               {"tls_public_key", Base64Encode(key.Public().ToDer())}};

  // An EK certificate from a CA that is not a trusted manufacturer.
  {
    auto rogue_key = *PrivateKey::Generate(KeyType::kEcP256);
    CertificateSpec spec;
    spec.common_name = "Rogue";
    spec.is_ca = true;
    auto rogue = *IssueCertificate(spec, rogue_key.Public(), rogue_key, nullptr);
    CertificateSpec leaf;
    leaf.common_name = "EK";
    Json j = good;
    j["ek_certificate"] = Base64Encode(
        IssueCertificate(leaf, ParseTpmPublic(tre->EkPublic())->key, rogue_key, &rogue)->ToDer());
    const HttpResponse r = enroll(j);
    EXPECT_EQ(r.status, 403);
    EXPECT_EQ(CodeOf(r), "policy.enrollment");
  }
  // A genuine EK certificate, but for another TPM's EK.
  {
    auto other = *SoftTre::Create();
    Json j = good;
    j["ek_certificate"] = Base64Encode(h_.EkCertificate(other));
    EXPECT_EQ(CodeOf(enroll(j)), "policy.enrollment");
  }
  // The EK offered as the AK: not a restricted signing key.
  {
    Json j = good;
    j["ak_public"] = Base64Encode(tre->EkPublic());
    EXPECT_EQ(CodeOf(enroll(j)), "policy.enrollment");
  }
  // A release the PVE has no manifest for, or not for this hardware.
  {
    Json j = good;
    j["release_version"] = "9.9";
    EXPECT_EQ(CodeOf(enroll(j)), "policy.unknown-release");
    j = good;
    j["hardware_model"] = "femto-z9";
    EXPECT_EQ(CodeOf(enroll(j)), "policy.enrollment");
  }
  // A wrong answer to the credential challenge (an AK not in that TPM).
  {
    const HttpResponse challenge = enroll(good);
    EXPECT_EQ(challenge.status, 201);
    const HttpResponse bad = Post(*anon, "/v1/enrollments/henb-e/activation",
                                  Json{{"enrollment_token", Body(challenge)["enrollment_token"]},
                                       {"proof", Base64Encode(Bytes(32, 7))},
                                       {"tls_signature", "AAAA"}}
                                      .dump());
    EXPECT_EQ(bad.status, 403);
    EXPECT_EQ(CodeOf(bad), "policy.enrollment");
    EXPECT_FALSE(h_.store->GetDevice("henb-e")->has_value());
  }
  // The AK of one TrE with the EK of another: activation cannot succeed.
  {
    auto other = *SoftTre::Create();
    Json j = good;
    j["ak_public"] = Base64Encode(other.AkPublic());
    const HttpResponse c = enroll(j);
    ASSERT_EQ(c.status, 201);
    auto secret =
        tre->ActivateCredential(*Base64Decode(Body(c)["credential_blob"].get<std::string>()),
                                *Base64Decode(Body(c)["encrypted_secret"].get<std::string>()));
    EXPECT_FALSE(secret.ok());
    auto secret2 =
        other.ActivateCredential(*Base64Decode(Body(c)["credential_blob"].get<std::string>()),
                                 *Base64Decode(Body(c)["encrypted_secret"].get<std::string>()));
    EXPECT_FALSE(secret2.ok());
  }
  // The same id with another EK.
  auto first = h_.Enrolled("henb-taken");
  ASSERT_TRUE(first.client);
  {
    Json j = good;
    j["device_id"] = "henb-taken";
    const HttpResponse r = enroll(j);
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(CodeOf(r), "policy.device-conflict");
  }
  // Re-enrollment of the same TPM cannot move its recorded configuration.
  {
    auto again = Enroll("127.0.0.1", h_.port(), h_.CaPem(), *first.tre,
                        h_.Request("henb-taken", *first.tre));
    EXPECT_TRUE(again.ok()) << again.error().ToString();  // same EK, same release: a new AK is fine
    const ReleaseManifest v1 =
        h_.fixture.Manifest(testing::ReleaseFixture::DefaultImages("v1"), 1, "1.0");
    ASSERT_TRUE(h_.store->PutManifest({v1.release_id, v1.version, *EncodeManifest(v1), ""}).ok());
    EnrollmentRequest older = h_.Request("henb-taken", *first.tre);
    older.release_version = "1.0";
    auto moved = Enroll("127.0.0.1", h_.port(), h_.CaPem(), *first.tre, older);
    ASSERT_FALSE(moved.ok());
    EXPECT_NE(moved.error().message().find("policy.device-conflict"), std::string::npos);
  }
  // Malformed ids never reach the store.
  {
    Json j = good;
    j["device_id"] = "../etc/passwd";
    EXPECT_EQ(CodeOf(enroll(j)), "net.bad-request");
  }
}

// Every PVE path answers another method with 405 and the methods it takes,
// before it looks at the caller's role.
TEST_F(PveServiceTest, AKnownPathWithAnotherMethodIs405WithAllow) {
  auto a = h_.Enrolled("henb-a");
  ASSERT_TRUE(a.client);
  auto allow_of = [](const HttpResponse& r) {
    for (const auto& [name, value] : r.headers) {
      if (name == "Allow") return value;
    }
    return std::string();
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/v1/evidence", "POST"},
      {"/v1/nonces", "POST"},
      {"/v1/enrollments", "POST"},
      {"/v1/devices/henb-a", "GET"},
      {"/v1/devices/henb-a/configuration", "PUT"},
      {"/v1/devices/henb-a/access-decision", "GET"},
      {"/v1/releases/henb-fw/1.0/revocation", "POST"},
      {"/healthz", "GET"},
  };
  for (const auto& [target, allowed] : cases) {
    const std::string method = allowed == "GET" ? "DELETE" : "GET";
    auto r = a.client->Request(method, target);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    EXPECT_EQ(r->status, 405) << method << " " << target << ": " << r->body;
    EXPECT_EQ(allow_of(*r), allowed) << target;
    EXPECT_EQ(CodeOf(*r), "net.method-not-allowed") << target;
  }
  // The right method still works, and an unknown path is still 404.
  EXPECT_EQ(Get(*a.client, "/healthz").status, 200);
  const auto unknown = Get(*a.client, "/v1/devices/henb-a/nothing");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(allow_of(unknown), "");
}

TEST_F(PveServiceTest, BadInputOverTheWireGetsAClear4xxAndTheServiceGoesOn) {
  auto a = h_.Enrolled("henb-a");
  auto b = h_.Enrolled("henb-b");
  ASSERT_TRUE(a.client && b.client);
  auto expect = [](const HttpResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    EXPECT_EQ(CodeOf(r), code) << r.body;
  };

  // Malformed and oversized JSON, wrong content type.
  expect(Post(*a.client, "/v1/evidence", "{\"nonce\": "), 400, "net.bad-request");
  expect(Post(*a.client, "/v1/evidence", "[1,2,3]"), 400, "net.bad-request");
  expect(Post(*a.client, "/v1/evidence", R"({"nonce":"not base64!","attest":"","signature":""})"),
         400, "net.bad-request");
  expect(Post(*a.client, "/v1/evidence", std::string(300 << 10, ' ')), 413, "net.too-large");
  expect(Post(*a.client, "/v1/evidence", "{}", "text/plain"), 415, "net.content-type");
  expect(Post(*a.client, "/v1/no-such-thing", "{}"), 404, "net.not-found");

  // A replayed nonce, and an expired one.
  auto [n1, sel] = Nonce(a);
  const std::string ev1 = *EvidenceJson(*a.tre, n1, sel);
  expect(Post(*a.client, "/v1/evidence", ev1), 200, "");
  expect(Post(*a.client, "/v1/evidence", ev1), 409, "policy.nonce");
  auto [n2, sel2] = Nonce(a);
  h_.now += h_.pve->config.nonce_ttl + 1;
  expect(Post(*a.client, "/v1/evidence", *EvidenceJson(*a.tre, n2, sel2)), 409, "policy.nonce");

  // A nonce issued to b, used by a.
  auto [nb, selb] = Nonce(b);
  expect(Post(*a.client, "/v1/evidence", *EvidenceJson(*a.tre, nb, selb)), 409, "policy.nonce");

  // Evidence signed by another device's AK (b's TrE quoting a's nonce).
  auto [n3, sel3] = Nonce(a);
  const HttpResponse other_ak = Post(*a.client, "/v1/evidence", *EvidenceJson(*b.tre, n3, sel3));
  expect(other_ak, 422, "quote.signature-invalid");
  EXPECT_EQ(Json::parse(other_ak.body).dump(), other_ak.body);  // detail and error, in order

  // Evidence for another device: a's certificate, b's name.
  auto [n4, sel4] = Nonce(a);
  Json for_b = Json::parse(*EvidenceJson(*a.tre, n4, sel4));
  for_b["device_id"] = "henb-b";
  expect(Post(*a.client, "/v1/evidence", for_b.dump()), 403, "net.forbidden");

  // A valid quote whose log does not replay to it.
  auto [n5, sel5] = Nonce(a);
  Json lying = Json::parse(*EvidenceJson(*a.tre, n5, sel5));
  lying["event_log"] = Base64Encode(
      PlanEventLog(h_.fixture.Manifest(testing::ReleaseFixture::DefaultImages("v1"))).Serialize());
  const HttpResponse r = Post(*a.client, "/v1/evidence", lying.dump());
  expect(r, 422, "quote.eventlog-mismatch");
  EXPECT_EQ(Body(r)["status"], "contraindicated");  // and the signed result says so

  // An unknown device: a certificate from the client CA for an id never enrolled.
  {
    auto id = IssueClientIdentity(h_.pve->config.client_ca, h_.pve->config.client_ca_key,
                                  "henb-ghost", kRoleDevice);
    auto ghost = h_.Client({id->certificate_pem, id->private_key_pem, h_.CaPem()});
    expect(Post(*ghost, "/v1/nonces", "{}"), 404, "policy.unknown-device");
  }
  // No client certificate, or one from another CA, or the wrong role.
  {
    auto anon = h_.Client(h_.RoleTls(""));
    expect(Post(*anon, "/v1/nonces", "{}"), 401, "net.unauthenticated");
    auto key = *PrivateKey::Generate(KeyType::kEcP256);
    CertificateSpec spec;
    spec.common_name = "henb-a";
    spec.organization = std::string(kRoleDevice);
    spec.client_auth = true;
    auto self = *IssueCertificate(spec, key.Public(), key, nullptr);
    auto forged = h_.Client({self.ToPem(), key.ToPem(), h_.CaPem()});
    expect(Post(*forged, "/v1/nonces", "{}"), 401, "net.unauthenticated");
    expect(Get(*a.client, "/v1/devices/henb-b/access-decision"), 403, "net.forbidden");
    expect(Get(*a.client, "/v1/devices/henb-b/attestation-result"), 403, "net.forbidden");
  }
  // Garbage that is not HTTP at all, on a raw TLS connection.
  {
    const auto out = testing::Run(
        "printf 'NOT HTTP\\r\\n\\r\\n' | timeout 10 openssl s_client -quiet "
        "-connect 127.0.0.1:" +
        std::to_string(h_.port()) + " 2>/dev/null");
    EXPECT_NE(out.out.find("400"), std::string::npos) << out.out;
  }

  // After all of that, everyone else is still served.
  auto ok = AttestOnce(*b.client, *b.tre);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(Body(*ok)["status"], "affirming");
  auto health = h_.Client(h_.RoleTls(""));
  EXPECT_EQ(Get(*health, "/healthz").status, 200);
  const HttpResponse metrics = Get(*health, "/metrics");
  EXPECT_NE(metrics.body.find("henbtrust_pve_appraisals_total{status=\"affirming\"}"),
            std::string::npos);
}

// A result carries the device's next nonce, so that a device attesting again
// needs one request; that nonce is as single use, expiring and bound to the
// device as one from POST /v1/nonces.
// A device reads the next nonce from the object's text where it can, and
// leaves the rest to nlohmann: both ways give the same nonce, or none. The
// same `next_nonce` is read from an answer the quick reader takes and from
// one it leaves whole to nlohmann (an escape in another member), for typical,
// odd and broken objects and for random one-byte changes of them.
TEST(NextNonce, TheQuickReaderAndTheFullParserAgree) {
  const std::vector<std::string> objects = {
      R"({"expires_at":1795924757,"nonce":"AAABoiV1C129YEIFjb8h9lQR5nrAr1VoWt0WOAuAmC4=","pcr_selection":"sha256:0,2,3,4"})",
      R"({"nonce":"AAECAw==","pcr_selection":"sha256:0","expires_at":-0})",
      R"({"nonce":"AAECAw==","pcr_selection":"sha1:7+sha256:0,1"})",
      R"({"nonce":"AAECAw==","pcr_selection":"sha256:0","expires_at":1.5})",
      R"({"nonce":"AAECAw==","pcr_selection":"sha256:0","expires_at":9223372036854775808})",
      R"({"nonce":"AAECAw==","pcr_selection":"sha256:0","expires_at":-9223372036854775808})",
      R"({"nonce":"AAECAw==","pcr_selection":"sha256:0","expires_at":"1"})",
      R"({"nonce":"AAECAw==","pcr_selection":"sha256:0","expires_at":null})",
      R"({"nonce":"AAECAw==","pcr_selection":"sha256:0","expires_at":{"a":1}})",
      R"({"nonce":"","pcr_selection":"sha256:0"})",
      R"({"nonce":"!!!!","pcr_selection":"sha256:0"})",
      R"({"nonce":7,"pcr_selection":"sha256:0"})",
      R"({"nonce":"AAECAw==","pcr_selection":"sha999:0"})",
      R"({"nonce":"AAECAw==","pcr_selection":["sha256:0"]})",
      R"({"nonce":"AAECAw==","nonce":"AAECBA==","pcr_selection":"sha256:0"})",
      R"({"pcr_selection":"sha256:0"})",
      R"({"nonce":"AAECAw=="})",
      R"({})",
  };
  auto same = [](const std::optional<PushNonce>& x, const std::optional<PushNonce>& y) {
    if (x.has_value() != y.has_value()) return false;
    return !x || (x->nonce == y->nonce && x->expires_at == y->expires_at &&
                  FormatPcrSelection(x->selection) == FormatPcrSelection(y->selection));
  };
  int quick_found = 0, checked = 0;
  auto check = [&](const std::string& object) {
    const std::string plain = R"({"a":"x","next_nonce":)" + object + "}";
    const std::string escaped = R"({"a":"\u0078","next_nonce":)" + object + "}";
    if (!ScanJsonMember(plain, "next_nonce").sure) return;
    ASSERT_FALSE(ScanJsonMember(escaped, "next_nonce").sure);
    const auto quick = NextNonceFromResult(plain);
    const auto full = NextNonceFromResult(escaped);
    EXPECT_TRUE(same(quick, full)) << object;
    quick_found += quick.has_value() ? 1 : 0;
    ++checked;
  };
  for (const auto& o : objects) check(o);
  EXPECT_EQ(quick_found, 10);  // the first nine, and the duplicate (the last counts)
  std::mt19937 rng(testing::TestSeed());
  const std::string bytes = "0123456789\"-+.eE:,{}[] aAz=/\\";
  for (int i = 0; i < 20000; ++i) {
    std::string o = objects[rng() % objects.size()];
    const int changes = 1 + static_cast<int>(rng() % 3);
    for (int c = 0; c < changes && !o.empty(); ++c) {
      const size_t at = rng() % o.size();
      switch (rng() % 3) {
        case 0:
          o[at] = bytes[rng() % bytes.size()];
          break;
        case 1:
          o.erase(at, 1);
          break;
        default:
          o.insert(at, 1, bytes[rng() % bytes.size()]);
      }
    }
    check(o);
  }
  EXPECT_GT(checked, 2000);  // many mutations are still JSON the quick reader takes
}

TEST_F(PveServiceTest, TheNextNonceMakesTheNextPushOneRequestAndIsSingleUse) {
  auto a = h_.Enrolled("henb-n1");
  auto b = h_.Enrolled("henb-n2");
  ASSERT_TRUE(a.client && b.client);
  PushNonce held;
  auto first = AttestOnce(*a.client, *a.tre, true, &held);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  ASSERT_EQ(first->status, 200) << first->body;
  ASSERT_FALSE(held.nonce.empty());
  EXPECT_EQ(held.expires_at, h_.now + h_.pve->config.nonce_ttl);
  EXPECT_EQ(FormatPcrSelection(held.selection), FormatPcrSelection({PlanSelection(h_.reference)}));

  // The held nonce alone makes an appraisal: no nonce request.
  const std::string evidence = *EvidenceJson(*a.tre, held.nonce, held.selection);
  const HttpResponse second = Post(*a.client, "/v1/evidence", evidence);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Body(second)["status"], "affirming");
  auto next = NextNonceFromResult(second.body);
  ASSERT_TRUE(next.has_value());
  EXPECT_NE(next->nonce, held.nonce);
  // The device reads the next nonce the same when the answer has text its
  // quick reader leaves to the full parser (an escape); it finds none where
  // there is none, or where it is not an object.
  ASSERT_EQ(second.body.front(), '{');
  const std::string escaped = R"({"note":"a\"b",)" + second.body.substr(1);
  ASSERT_FALSE(ScanJsonMember(escaped, "next_nonce").sure);
  auto same = NextNonceFromResult(escaped);
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->nonce, next->nonce);
  EXPECT_EQ(same->expires_at, next->expires_at);
  EXPECT_EQ(FormatPcrSelection(same->selection), FormatPcrSelection(next->selection));
  EXPECT_FALSE(NextNonceFromResult(R"({"status":"affirming"})").has_value());
  EXPECT_FALSE(NextNonceFromResult(R"({"next_nonce":"x"})").has_value());
  EXPECT_FALSE(NextNonceFromResult(R"({"next_nonce":"x\u0041"})").has_value());
  // Spent: the same evidence again is refused, and so is the nonce in another
  // quote; nor may another device use a's next nonce.
  EXPECT_EQ(CodeOf(Post(*a.client, "/v1/evidence", evidence)), "policy.nonce");
  EXPECT_EQ(
      CodeOf(Post(*a.client, "/v1/evidence", *EvidenceJson(*a.tre, held.nonce, held.selection))),
      "policy.nonce");
  EXPECT_EQ(
      CodeOf(Post(*b.client, "/v1/evidence", *EvidenceJson(*b.tre, next->nonce, next->selection))),
      "policy.nonce");

  // A held nonce the PVE no longer takes (expired by the PVE's clock, or not
  // one of its own) costs the device one retry with a fresh nonce.
  held = *next;
  h_.now += h_.pve->config.nonce_ttl + 1;
  auto after_expiry = AttestOnce(*a.client, *a.tre, true, &held);
  ASSERT_TRUE(after_expiry.ok()) << after_expiry.error().ToString();
  EXPECT_EQ(after_expiry->status, 200) << after_expiry->body;
  EXPECT_EQ(held.expires_at, h_.now + h_.pve->config.nonce_ttl);
  held.nonce.assign(held.nonce.size(), 0x5a);
  auto forged = AttestOnce(*a.client, *a.tre, true, &held);
  ASSERT_TRUE(forged.ok()) << forged.error().ToString();
  EXPECT_EQ(forged->status, 200) << forged->body;
  EXPECT_FALSE(held.nonce.empty());
}

// Nonces come from a per-thread buffer of random bytes, refilled every 32:
// a hundred in a row (over several refills) each differ in their random part
// (bytes 8 to 19), and each makes one appraisal.
TEST_F(PveServiceTest, EveryNonceHasItsOwnRandomPart) {
  auto d = h_.Enrolled("henb-n");
  ASSERT_TRUE(d.client);
  std::set<Bytes> random_parts;
  std::vector<std::pair<Bytes, std::vector<PcrSelection>>> issued;
  for (int i = 0; i < 100; ++i) {
    issued.push_back(Nonce(d));
    ASSERT_EQ(issued.back().first.size(), 32u);
    random_parts.insert(Bytes(issued.back().first.begin() + 8, issued.back().first.begin() + 20));
  }
  EXPECT_EQ(random_parts.size(), 100u);
  for (int i : {0, 31, 32, 99}) {
    const auto& [nonce, selection] = issued[static_cast<size_t>(i)];
    const HttpResponse r = Post(*d.client, "/v1/evidence", *EvidenceJson(*d.tre, nonce, selection));
    EXPECT_EQ(r.status, 200) << i << ": " << r.body;
  }
}

TEST_F(PveServiceTest, TlsIsVersion13AndTheServerCertificateIsChecked) {
  // openssl refuses TLS 1.2 against the server.
  const auto tls12 = testing::Run("echo | timeout 10 openssl s_client -tls1_2 -connect 127.0.0.1:" +
                                  std::to_string(h_.port()) + " 2>&1");
  EXPECT_NE(tls12.exit_code, 0) << tls12.out;
  const auto tls13 = testing::Run("echo | timeout 10 openssl s_client -tls1_3 -connect 127.0.0.1:" +
                                  std::to_string(h_.port()) + " 2>&1");
  EXPECT_NE(tls13.out.find("TLSv1.3"), std::string::npos) << tls13.out;
  // A client that trusts another CA does not talk to this server.
  auto key = *PrivateKey::Generate(KeyType::kEcP256);
  CertificateSpec spec;
  spec.common_name = "Other CA";
  spec.is_ca = true;
  auto other = *IssueCertificate(spec, key.Public(), key, nullptr);
  auto c = HttpClient::Connect("127.0.0.1", h_.port(), {"", "", other.ToPem()});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code(), ErrorCode::kNetTls);
  // Nor one that expects another name.
  auto named = HttpClient::Connect("127.0.0.1", h_.port(), h_.RoleTls(""),
                                   HttpClientOptions{.server_name = "pve.example"});
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.error().code(), ErrorCode::kNetTls);
}

TEST_F(PveServiceTest, KeepAliveServesManyRequestsOnOneConnectionAndStopIsGraceful) {
  auto d = h_.Enrolled("henb-k");
  ASSERT_TRUE(d.client);
  for (int i = 0; i < 50; ++i) {
    auto r = AttestOnce(*d.client, *d.tre, /*with_log=*/false);
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200);
  }
  EXPECT_EQ(d.client->connections(), 1);
  h_.server->Stop();
  auto after = d.client->Request("GET", "/healthz");
  EXPECT_FALSE(after.ok());
}

}  // namespace
}  // namespace henbtrust
