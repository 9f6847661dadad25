// The PVE against an attacker on the wire (docs/security.md): each test
// shows one hole of the adversarial review closed, and fails without its fix.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <mutex>

#include "henbtrust/core/json_text.h"
#include "henbtrust/device/recovery_identity.h"
#include "pve/pve_harness.h"

namespace henbtrust {
namespace {

using Json = nlohmann::json;
using testing::PveHarness;

HttpResponse Send(HttpClient& c, const std::string& method, const std::string& target,
                  const std::string& body = "") {
  auto r = c.Request(method, target, "application/json", body);
  EXPECT_TRUE(r.ok()) << r.error().ToString();
  return r.ok() ? std::move(r).value() : HttpResponse{0, "", "", {}};
}

std::string CodeOf(const HttpResponse& r) {
  const Json j = Json::parse(r.body, nullptr, false);
  if (!j.is_object() || !j.contains("error")) return "";
  return j["error"].value("code", "");
}

// The enrollment request a device sends, with `tls_key` as its TLS key.
EnrollmentFields Fields(const PveHarness& h, const std::string& id, const Tre& tre,
                        const PrivateKey& tls_key) {
  return {id,
          "femto-a1",
          h.reference.release_id,
          h.reference.version,
          tre.EkPublic(),
          h.EkCertificate(tre),
          tre.AkPublic(),
          tls_key.Public().ToDer()};
}
Json EnrollmentBody(const PveHarness& h, const std::string& id, const Tre& tre,
                    const PrivateKey& tls_key) {
  return EncodeEnrollmentFields(Fields(h, id, tre, tls_key));
}
std::string TokenOf(const HttpResponse& challenge) {
  return Json::parse(challenge.body)["enrollment_token"].get<std::string>();
}

// The secret a challenge answer protects, as the device's TPM recovers it.
Bytes Activate(Tre& tre, const HttpResponse& challenge) {
  const Json c = Json::parse(challenge.body);
  return tre
      .ActivateCredential(*Base64Decode(c["credential_blob"].get<std::string>()),
                          *Base64Decode(c["encrypted_secret"].get<std::string>()))
      .value();
}

class PveSecurityTest : public ::testing::Test {
 protected:
  PveHarness h_;
};

// Finding 1: one deeply nested body used to overflow the stack of the
// whole server (the body parsed, then dump() recursed).
TEST_F(PveSecurityTest, DeeplyNestedJsonIsRefusedAndTheServerGoesOn) {
  constexpr size_t kDepth = 100'000;
  auto anon = h_.Client(h_.RoleTls(""));
  const std::string arrays = std::string(kDepth, '[') + std::string(kDepth, ']');
  std::string objects;
  for (size_t i = 0; i < kDepth / 8; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kDepth / 8, '}');
  // At an endpoint that takes anonymous bodies of up to the server's limit
  // (an enrollment request is refused above 64 KiB before it is parsed).
  for (const std::string& body : {arrays, "{\"device_id\":" + arrays + "}", objects}) {
    const HttpResponse r = Send(*anon, "POST", "/v1/enrollments/henb-x/activation", body);
    EXPECT_EQ(r.status, 400) << r.body.substr(0, 200);
    EXPECT_EQ(CodeOf(r), "net.bad-request");
  }
  // A valid enrollment with one deep member: the PVE used to keep it as
  // body.dump(), which recursed 100,000 deep and ended the server. Now it is
  // refused for its size (64 KiB) or, within that, for its depth.
  auto tre = *SoftTre::Create();
  h_.Boot(tre);
  Json valid = EnrollmentBody(h_, "henb-deep", tre, *PrivateKey::Generate(KeyType::kEcP256));
  for (const size_t depth : {size_t{100'000}, size_t{25'000}}) {
    std::string text = valid.dump();
    text.pop_back();
    text += ",\"x\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
    const HttpResponse r = Send(*anon, "POST", "/v1/enrollments", text);
    EXPECT_EQ(r.status, depth > 30'000 ? 413 : 400) << r.body.substr(0, 200);
  }
  EXPECT_EQ(Send(*anon, "POST", "/v1/enrollments", valid.dump()).status, 201);
  // Nesting up to the limit is still read (and refused for what it says).
  const std::string deep_ok =
      std::string(kMaxJsonDepth - 1, '[') + "1" + std::string(kMaxJsonDepth - 1, ']');
  EXPECT_EQ(CodeOf(Send(*anon, "POST", "/v1/enrollments", "{\"x\":" + deep_ok + "}")),
            "net.bad-request");
  EXPECT_EQ(Send(*anon, "GET", "/healthz").status, 200);
}

TEST(JsonDepth, CountsBracketsOutsideStringsOnly) {
  EXPECT_TRUE(JsonDepthWithin("{}", 1));
  EXPECT_FALSE(JsonDepthWithin("{\"a\":[]}", 1));
  EXPECT_TRUE(JsonDepthWithin("{\"a\":[]}", 2));
  EXPECT_TRUE(JsonDepthWithin(R"({"a":"[[[[[[\"[[[["})", 1));
  EXPECT_FALSE(JsonDepthWithin(R"({"a":"\\",[[[1]]]})", 3));
  EXPECT_TRUE(JsonDepthWithin("[[],[],[[]]]", 3));
  EXPECT_FALSE(JsonDepthWithin(std::string(33, '['), kMaxJsonDepth));
}

// Finding 2: a device that enrolled as "localhost" got a serverAuth
// certificate for DNS:localhost from the CA that clients trust for servers.
TEST_F(PveSecurityTest, ADeviceCertificateCannotPassForTheServer) {
  auto anon = h_.Client(h_.RoleTls(""));
  auto tre = *SoftTre::Create();
  h_.Boot(tre);
  const auto key = *PrivateKey::Generate(KeyType::kEcP256);
  for (const char* id : {"localhost", "LocalHost", "127.0.0.1", "2130706433", "0x7f000001",
                         "pve.example", "henb.0001"}) {
    const HttpResponse r =
        Send(*anon, "POST", "/v1/enrollments", EnrollmentBody(h_, id, tre, key).dump());
    EXPECT_EQ(r.status, 400) << id << ": " << r.body;
  }
  // A device that registered a pull address: its certificate names it only
  // by a URI, and is issued by the client CA, which no client trusts for a
  // server.
  auto d = std::make_unique<SoftTre>(*SoftTre::Create());
  h_.Boot(*d);
  auto creds =
      Enroll("127.0.0.1", h_.port(), h_.CaPem(), *d, h_.Request("henb-0007", *d, "127.0.0.1:1"));
  ASSERT_TRUE(creds.ok()) << creds.error().ToString();
  auto cert = *Certificate::FromPem(creds->certificate_pem);
  EXPECT_EQ(cert.UriNames(), std::vector<std::string>{"urn:henbtrust:device:henb-0007"});
  EXPECT_FALSE(VerifyChain(cert, {}, {*Certificate::FromPem(h_.CaPem())}).ok());
  EXPECT_EQ(creds->ca_pem, h_.CaPem());
  // A fake server with that certificate: a device (or an operator) that
  // trusts the server CA does not connect to it, by address or by name.
  auto fake = HttpServer::Start({}, ResponderTls(*creds),
                                [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_TRUE(fake.ok()) << fake.error().ToString();
  for (const char* host : {"127.0.0.1", "localhost"}) {
    auto c = HttpClient::Connect(host, (*fake)->port(), DeviceTls(*creds));
    EXPECT_FALSE(c.ok()) << host;
    if (!c.ok()) {
      EXPECT_EQ(c.error().code(), ErrorCode::kNetTls);
    }
  }
}

// The recovery image's key (docs/recovery.md): enrolled with proof of
// possession, certified for its own role, and kept once recorded, so that
// an OS that re-enrolls can neither replace nor drop it.
TEST_F(PveSecurityTest, TheRecoveryKeyIsEnrolledOnceAndKept) {
  auto tre = *SoftTre::Create();
  h_.Boot(tre);
  Env& env = *Env::Default();
  auto stage = RecoveryIdentity::Create(env, h_.dir.File("stage-a"));
  auto other_stage = RecoveryIdentity::Create(env, h_.dir.File("stage-b"));
  ASSERT_TRUE(stage.ok() && other_stage.ok());
  // It signs nothing but a recovery activation context: not the context a
  // tls_signature covers, so the recovery key never passes for a device key.
  EXPECT_FALSE(stage->SignActivation(AsBytes("henbtrust recovery activation v1")).ok());
  EXPECT_FALSE(stage->SignActivation(Bytes(66, 0)).ok());

  // Named without its signature, or with another key's: refused.
  auto anon = h_.Client(h_.RoleTls(""));
  const auto tls_key = *PrivateKey::Generate(KeyType::kEcP256);
  EnrollmentFields sent = Fields(h_, "henb-rk", tre, tls_key);
  sent.recovery_public_key = stage->PublicKeyDer();
  const HttpResponse challenge =
      Send(*anon, "POST", "/v1/enrollments", EncodeEnrollmentFields(sent).dump());
  ASSERT_EQ(challenge.status, 201) << challenge.body;
  const std::string token = TokenOf(challenge);
  const Bytes secret = Activate(tre, challenge);
  Json answer = Json::parse(testing::ActivationBody(token, secret, sent, tls_key));
  HttpResponse r = Send(*anon, "POST", "/v1/enrollments/henb-rk/activation", answer.dump());
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("recovery_signature does not verify"), std::string::npos) << r.body;
  EXPECT_FALSE(stage->SignActivation(ActivationContext(sent)).ok());
  answer["recovery_signature"] =
      Base64Encode(*other_stage->SignActivation(RecoveryActivationContext(sent)));
  r = Send(*anon, "POST", "/v1/enrollments/henb-rk/activation", answer.dump());
  EXPECT_EQ(r.status, 403) << r.body;
  // With its own signature: a certificate for the recovery role.
  answer["recovery_signature"] =
      Base64Encode(*stage->SignActivation(RecoveryActivationContext(sent)));
  r = Send(*anon, "POST", "/v1/enrollments/henb-rk/activation", answer.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  auto issued = DecodeIssuedCredentials(r.body);
  ASSERT_TRUE(issued.ok());
  auto recovery_cert = Certificate::FromPem(issued->recovery_certificate);
  ASSERT_TRUE(recovery_cert.ok());
  EXPECT_EQ(recovery_cert->SubjectField("O"), kRoleRecovery);
  EXPECT_EQ(recovery_cert->SubjectKey()->ToDer(), stage->PublicKeyDer());
  EXPECT_EQ((*h_.store->GetDevice("henb-rk"))->recovery_public_key, stage->PublicKeyDer());

  // The boot stage keeps it (and pins the client CA that issued it).
  ASSERT_TRUE(
      stage->StoreCertificate(issued->recovery_certificate, issued->client_ca_certificate).ok());
  // The recovery key is never a device key: a request naming it as the TLS
  // key is refused.
  EnrollmentFields posing = Fields(h_, "henb-rk", tre, tls_key);
  posing.tls_public_key = stage->PublicKeyDer();
  const HttpResponse posed =
      Send(*anon, "POST", "/v1/enrollments", EncodeEnrollmentFields(posing).dump());
  EXPECT_EQ(posed.status, 403) << posed.body;
  EXPECT_NE(posed.body.find("never a device key"), std::string::npos) << posed.body;
  // Re-enrollment with another recovery key: refused, the record unchanged.
  EnrollmentRequest request = h_.Request("henb-rk", tre);
  request.recovery = &*other_stage;
  auto replaced = Enroll("127.0.0.1", h_.port(), h_.CaPem(), tre, request);
  ASSERT_FALSE(replaced.ok());
  EXPECT_NE(replaced.error().message().find("another recovery key"), std::string::npos)
      << replaced.error().ToString();
  // Without one: the device certificate is renewed, the recovery key kept.
  request.recovery = nullptr;
  auto again = Enroll("127.0.0.1", h_.port(), h_.CaPem(), tre, request);
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_TRUE(again->certificate_pem.size() > 0);
  EXPECT_EQ((*h_.store->GetDevice("henb-rk"))->recovery_public_key, stage->PublicKeyDer());
  // With the same one: a new recovery certificate, which the stage keeps.
  request.recovery = &*stage;
  auto same = Enroll("127.0.0.1", h_.port(), h_.CaPem(), tre, request);
  ASSERT_TRUE(same.ok()) << same.error().ToString();
  auto kept = stage->CertificatePem();
  ASSERT_TRUE(kept.ok());
  EXPECT_NE(*kept, issued->recovery_certificate);
  // The stage takes no certificate for another key, of another role, or
  // from another CA than the one it pinned (an OS that would lock its
  // recovery image out with a certificate the OAM refuses).
  EXPECT_FALSE(other_stage->StoreCertificate(*kept, issued->client_ca_certificate).ok());
  const PrivateKey rogue_ca_key = *PrivateKey::Generate(KeyType::kEcP256);
  CertificateSpec ca_spec;
  ca_spec.common_name = "rogue CA";
  ca_spec.is_ca = true;
  const Certificate rogue_ca =
      *IssueCertificate(ca_spec, rogue_ca_key.Public(), rogue_ca_key, nullptr);
  CertificateSpec leaf;
  leaf.common_name = "henb-rk";
  leaf.organization = std::string(kRoleRecovery);
  leaf.client_auth = true;
  auto stage_key = PublicKey::FromDer(stage->PublicKeyDer());
  ASSERT_TRUE(stage_key.ok());
  const Certificate rogue = *IssueCertificate(leaf, *stage_key, rogue_ca_key, &rogue_ca);
  const Status foreign = stage->StoreCertificate(rogue.ToPem(), rogue_ca.ToPem());
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().message().find("pinned"), std::string::npos)
      << foreign.error().ToString();
  leaf.organization = std::string(kRoleDevice);
  auto ca_key = PrivateKey::FromPem(ReadTextFile(h_.dir.File("pve/client-ca.key")).value());
  auto ca = Certificate::FromPem(issued->client_ca_certificate);
  ASSERT_TRUE(ca_key.ok() && ca.ok());
  const Certificate device_role = *IssueCertificate(leaf, *stage_key, *ca_key, &*ca);
  EXPECT_FALSE(stage->StoreCertificate(device_role.ToPem(), issued->client_ca_certificate).ok());
  EXPECT_EQ(*stage->CertificatePem(), *kept);
}

// Finding 3: a relay on a device's first contact swapped in its own TLS key
// and was issued a certificate in the device's name.
TEST_F(PveSecurityTest, ARelayCannotTakeADevicesIdentityAtFirstContact) {
  auto anon = h_.Client(h_.RoleTls(""));
  auto tre = *SoftTre::Create();
  h_.Boot(tre);
  const auto device_key = *PrivateKey::Generate(KeyType::kEcP256);
  const auto relay_key = *PrivateKey::Generate(KeyType::kEcP256);
  // The relay forwards the device's request with its own key in it, and the
  // challenge back; the device answers for the key it sent.
  const HttpResponse challenge =
      Send(*anon, "POST", "/v1/enrollments", EnrollmentBody(h_, "henb-r", tre, relay_key).dump());
  ASSERT_EQ(challenge.status, 201) << challenge.body;
  const std::string token = TokenOf(challenge);
  const Bytes secret = Activate(tre, challenge);
  const std::string device_answer =
      testing::ActivationBody(token, secret, Fields(h_, "henb-r", tre, device_key), device_key);
  HttpResponse r = Send(*anon, "POST", "/v1/enrollments/henb-r/activation", device_answer);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(CodeOf(r), "policy.enrollment");
  // Without the secret the relay can make no proof for its own key (here it
  // guesses; a proof made with the secret is the next case).
  const EnrollmentFields relayed = Fields(h_, "henb-r", tre, relay_key);
  r = Send(*anon, "POST", "/v1/enrollments/henb-r/activation",
           testing::ActivationBody(token, Bytes(32, 0), relayed, relay_key));
  EXPECT_EQ(r.status, 403);
  // The proof also needs the TLS private key: the secret alone does not do.
  const auto other = *PrivateKey::Generate(KeyType::kEcP256);
  Json forged = {{"enrollment_token", token},
                 {"proof", Base64Encode(ActivationProof(secret, relayed))},
                 {"tls_signature",
                  Base64Encode(*other.Sign(SignatureScheme::kEcdsa, HashAlg::kSha256, Bytes{1}))}};
  EXPECT_EQ(Send(*anon, "POST", "/v1/enrollments/henb-r/activation", forged.dump()).status, 403);
  // Nor can a relay change what else the device claimed (its release, its
  // pull address): the proof names the whole request.
  EnrollmentFields moved = Fields(h_, "henb-r", tre, device_key);
  moved.agent_address = "203.0.113.9:443";
  const HttpResponse moved_challenge =
      Send(*anon, "POST", "/v1/enrollments", EncodeEnrollmentFields(moved).dump());
  ASSERT_EQ(moved_challenge.status, 201);
  r = Send(*anon, "POST", "/v1/enrollments/henb-r/activation",
           testing::ActivationBody(TokenOf(moved_challenge), Activate(tre, moved_challenge),
                                   Fields(h_, "henb-r", tre, device_key), device_key));
  EXPECT_EQ(r.status, 403);
  EXPECT_FALSE(h_.store->GetDevice("henb-r")->has_value());
  // The device itself, unrelayed, enrolls.
  auto creds = Enroll("127.0.0.1", h_.port(), h_.CaPem(), tre, h_.Request("henb-r", tre));
  ASSERT_TRUE(creds.ok()) << creds.error().ToString();
}

// Finding 4: any certificate under the manufacturer CA, the CA included,
// was taken as an EK certificate.
TEST_F(PveSecurityTest, OnlyAnEndEntityEkCertificateIsTaken) {
  auto anon = h_.Client(h_.RoleTls(""));
  auto tre = *SoftTre::Create();
  h_.Boot(tre);
  const auto key = *PrivateKey::Generate(KeyType::kEcP256);
  Json body = EnrollmentBody(h_, "henb-ek", tre, key);
  const auto ek = ParseTpmPublic(tre.EkPublic())->key;
  auto refused = [&](const Bytes& der) {
    Json j = body;
    j["ek_certificate"] = Base64Encode(der);
    const HttpResponse r = Send(*anon, "POST", "/v1/enrollments", j.dump());
    return r.status == 403 && CodeOf(r) == "policy.enrollment";
  };
  // The manufacturer's CA certificate itself.
  EXPECT_TRUE(refused(h_.mfr_ca->ToDer()));
  // A sub-CA under it, for the EK's key.
  CertificateSpec ca_spec;
  ca_spec.common_name = "EK-shaped sub-CA";
  ca_spec.is_ca = true;
  EXPECT_TRUE(refused(IssueCertificate(ca_spec, ek, *h_.mfr_key, &*h_.mfr_ca)->ToDer()));
  // An end entity whose key usage is not the EK's (keyAgreement for ECC).
  CertificateSpec signing;
  signing.common_name = "EK";
  EXPECT_TRUE(refused(IssueCertificate(signing, ek, *h_.mfr_key, &*h_.mfr_ca)->ToDer()));
  EXPECT_EQ(Send(*anon, "POST", "/v1/enrollments", body.dump()).status, 201);
}

// Findings 5 and 9: pending enrollments grew without bound in the store, and
// one wrong answer (or someone else's request for the same id) cancelled a
// device's pending enrollment. Now nothing is stored until the answer: the
// device keeps its challenge as a sealed token.
TEST_F(PveSecurityTest, APendingEnrollmentIsTheDevicesOwnAndSingleUse) {
  auto anon = h_.Client(h_.RoleTls(""));
  auto tre = *SoftTre::Create();
  h_.Boot(tre);
  const auto key = *PrivateKey::Generate(KeyType::kEcP256);
  const EnrollmentFields sent = Fields(h_, "henb-p0", tre, key);
  // Too large a request is refused before it is read.
  Json big = EncodeEnrollmentFields(sent);
  big["agent_address"] = std::string(70'000, 'a');
  EXPECT_EQ(Send(*anon, "POST", "/v1/enrollments", big.dump()).status, 413);

  const HttpResponse c0 =
      Send(*anon, "POST", "/v1/enrollments", EncodeEnrollmentFields(sent).dump());
  ASSERT_EQ(c0.status, 201);
  // Someone else asks for the same id, with the same public EK data and
  // another TLS key: the device's challenge stands.
  const auto intruder = *PrivateKey::Generate(KeyType::kEcP256);
  EXPECT_EQ(Send(*anon, "POST", "/v1/enrollments",
                 EncodeEnrollmentFields(Fields(h_, "henb-p0", tre, intruder)).dump())
                .status,
            201);
  // A wrong answer, an altered token, and a token for another id: refused.
  const std::string token = TokenOf(c0);
  const Bytes secret = Activate(tre, c0);
  const std::string target = "/v1/enrollments/henb-p0/activation";
  EXPECT_EQ(
      Send(*anon, "POST", target, testing::ActivationBody(token, Bytes(32, 9), sent, key)).status,
      403);
  std::string altered = token;
  altered[5] = altered[5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Send(*anon, "POST", target, testing::ActivationBody(altered, secret, sent, key)).status,
            403);
  EXPECT_EQ(Send(*anon, "POST", "/v1/enrollments/henb-p1/activation",
                 testing::ActivationBody(token, secret, sent, key))
                .status,
            403);
  // The device's own answer, after all that.
  const std::string answer = testing::ActivationBody(token, secret, sent, key);
  const HttpResponse done = Send(*anon, "POST", target, answer);
  EXPECT_EQ(done.status, 200) << done.body;
  // Answered, it is spent: the same answer again gets nothing.
  const HttpResponse again = Send(*anon, "POST", target, answer);
  EXPECT_EQ(again.status, 403);
  EXPECT_NE(again.body.find("answered already"), std::string::npos) << again.body;
  // And a challenge answered after its expiry is refused.
  const HttpResponse c1 =
      Send(*anon, "POST", "/v1/enrollments", EncodeEnrollmentFields(sent).dump());
  ASSERT_EQ(c1.status, 201);
  h_.now += h_.pve->config.enrollment_ttl;
  EXPECT_EQ(Send(*anon, "POST", target,
                 testing::ActivationBody(TokenOf(c1), Activate(tre, c1), sent, key))
                .status,
            403);
}

// Finding 9: the old certificate stayed valid after re-enrollment, device
// certificates could not be revoked, and re-enrollment reset the TPM clock
// the PVE had seen to zero.
TEST_F(PveSecurityTest, ReEnrollmentSupersedesTheOldCertificateAndKeepsTheClock) {
  auto first = h_.Enrolled("henb-0001");
  ASSERT_TRUE(first.client);
  auto answer = AttestOnce(*first.client, *first.tre);
  ASSERT_TRUE(answer.ok());
  ASSERT_EQ(answer->status, 200) << answer->body;
  const DeviceRecord before = **h_.store->GetDevice("henb-0001");
  EXPECT_GT(before.clock, 0u);
  // The same TPM enrolls again (a new TLS key).
  auto creds =
      Enroll("127.0.0.1", h_.port(), h_.CaPem(), *first.tre, h_.Request("henb-0001", *first.tre));
  ASSERT_TRUE(creds.ok()) << creds.error().ToString();
  const DeviceRecord after = **h_.store->GetDevice("henb-0001");
  EXPECT_EQ(after.reset_count, before.reset_count);
  EXPECT_EQ(after.clock, before.clock);
  EXPECT_NE(after.certificate_serial, before.certificate_serial);
  // The old certificate is refused; the new one is served.
  const HttpResponse old = Send(*first.client, "POST", "/v1/nonces", "{}");
  EXPECT_EQ(old.status, 401) << old.body;
  auto fresh = h_.Client(DeviceTls(*creds));
  EXPECT_EQ(Send(*fresh, "POST", "/v1/nonces", "{}").status, 200);
  // A SeGW that says which certificate it saw learns that the old one no
  // longer admits the device, and the new one does.
  auto segw = h_.Client(h_.RoleTls("segw"));
  const std::string decision = "/v1/devices/henb-0001/access-decision?certificate_serial=";
  Json d = Json::parse(Send(*segw, "GET", decision + before.certificate_serial).body);
  EXPECT_EQ(d["decision"], "quarantine") << d.dump();
  d = Json::parse(Send(*segw, "GET", decision + after.certificate_serial).body);
  EXPECT_EQ(d["decision"], "admit") << d.dump();
  EXPECT_EQ(d["certificate_serial"], after.certificate_serial);
}

// The PVE's pull request goes only to an agent that presents the device's
// current certificate: one replaced by a later enrollment is refused.
TEST_F(PveSecurityTest, APullGoesOnlyToTheDevicesCurrentCertificate) {
  auto tre = std::make_unique<SoftTre>(*SoftTre::Create());
  h_.Boot(*tre);
  std::mutex tre_mu;
  auto agent_at = [&](const DeviceCredentials& creds) {
    auto started = HttpServer::Start({}, ResponderTls(creds), IntegrityResponder(*tre, tre_mu));
    EXPECT_TRUE(started.ok()) << started.error().ToString();
    auto device = **h_.store->GetDevice("henb-pull2");
    device.agent_address = "127.0.0.1:" + std::to_string((*started)->port());
    EXPECT_TRUE(h_.store->PutDevice(device).ok());
    return std::move(started).value();
  };
  const auto request = h_.Request("henb-pull2", *tre, "127.0.0.1:1");
  auto first = Enroll("127.0.0.1", h_.port(), h_.CaPem(), *tre, request);
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  auto old_agent = agent_at(*first);
  auto op = h_.Client(h_.RoleTls("operator"));
  EXPECT_EQ(Send(*op, "POST", "/v1/devices/henb-pull2/appraisals").status, 200);
  // The same TPM enrolls again; the agent still answers with the old certificate.
  auto second = Enroll("127.0.0.1", h_.port(), h_.CaPem(), *tre, request);
  ASSERT_TRUE(second.ok()) << second.error().ToString();
  auto device = **h_.store->GetDevice("henb-pull2");
  device.agent_address = "127.0.0.1:" + std::to_string(old_agent->port());
  ASSERT_TRUE(h_.store->PutDevice(device).ok());
  const HttpResponse refused = Send(*op, "POST", "/v1/devices/henb-pull2/appraisals");
  EXPECT_EQ(refused.status, 502) << refused.body;
  EXPECT_NE(refused.body.find("with serial"), std::string::npos) << refused.body;
  auto new_agent = agent_at(*second);
  EXPECT_EQ(Send(*op, "POST", "/v1/devices/henb-pull2/appraisals").status, 200);
}

TEST_F(PveSecurityTest, AnOperatorRevokesADeviceAndItStaysOut) {
  auto d = h_.Enrolled("henb-0002");
  ASSERT_TRUE(d.client);
  auto op = h_.Client(h_.RoleTls("operator"));
  EXPECT_EQ(Send(*op, "POST", "/v1/devices/henb-0002/revocation", "{}").status, 400);
  EXPECT_EQ(
      Send(*d.client, "POST", "/v1/devices/henb-0002/revocation", R"({"reason":"stolen"})").status,
      403);
  EXPECT_EQ(Send(*op, "POST", "/v1/devices/henb-0002/revocation", R"({"reason":"reported stolen"})")
                .status,
            200);
  EXPECT_EQ(Send(*d.client, "POST", "/v1/nonces", "{}").status, 401);
  const Json decision = Json::parse(Send(*op, "GET", "/v1/devices/henb-0002/access-decision").body);
  EXPECT_EQ(decision["decision"], "quarantine");
  // Its TPM cannot enroll it again.
  auto again = Enroll("127.0.0.1", h_.port(), h_.CaPem(), *d.tre, h_.Request("henb-0002", *d.tre));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message().find("revoked"), std::string::npos);
}

// Finding 8: release revocation, a device's reference configuration and
// enrollment changed the PVE's state without an audit entry.
TEST_F(PveSecurityTest, ChangesAtThePveAreAudited) {
  auto d = h_.Enrolled("henb-0003");
  ASSERT_TRUE(d.client);
  auto op = h_.Client(h_.RoleTls("operator"));
  const std::string release = h_.reference.release_id + "/" + h_.reference.version;
  EXPECT_EQ(
      Send(*op, "PUT", "/v1/devices/henb-0003/configuration",
           Json{{"release_id", h_.reference.release_id}, {"version", h_.reference.version}}.dump())
          .status,
      200);
  EXPECT_EQ(
      Send(*op, "POST", "/v1/releases/" + release + "/revocation", R"({"reason":"CVE-2026-0001"})")
          .status,
      200);
  auto entries = *h_.store->ListAudit(0, 100);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].event, "enrolled");
  EXPECT_EQ(entries[0].subject, "device:henb-0003");
  EXPECT_EQ(entries[0].actor, "pve");
  EXPECT_EQ(entries[1].event, "reference configuration set");
  EXPECT_EQ(entries[1].actor, "operator:henbtrust operator");
  EXPECT_EQ(entries[2].event, "release revoked");
  EXPECT_EQ(entries[2].subject, "release:" + release);
  EXPECT_EQ(entries[2].detail, "CVE-2026-0001");
  EXPECT_EQ(*VerifyAuditChain(*h_.store), 3);
}

// Finding 10: a byte that is not UTF-8 in a URL gave a 500 carrying the
// JSON library's exception text.
TEST_F(PveSecurityTest, ABadByteInTheUrlIsAClear404) {
  HttpRequest req;
  req.method = "GET";
  req.target = "/v1/devices/\xff\xfe/what";
  req.peer = {true, true, "", "op", std::string(kRoleOperator), {}, ""};
  const HttpResponse r = h_.service->Handle(req);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(CodeOf(r), "net.not-found");
}

}  // namespace
}  // namespace henbtrust
