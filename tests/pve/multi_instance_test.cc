// Two `henbtrust pve serve` processes on one PostgreSQL database serve one
// fleet: an enrollment begun at one finishes at the other, and a nonce issued
// by either is accepted once, by either, and never twice, even when the same
// evidence races to both.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <thread>

#include "pve/pve_harness.h"
#include "support/postgres.h"

namespace henbtrust {
namespace {

using Json = nlohmann::json;
using testing::Background;
using testing::PveHarness;

TEST(PveMultiInstance, TwoProcessesOnOnePostgresAcceptEachNonceExactlyOnce) {
  testing::PostgresServer pg;
  ASSERT_TRUE(pg.ok()) << pg.error();
  const std::string conninfo = pg.NewDatabase();
  auto store = OpenPostgresStore(conninfo);
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  PveHarness h(std::move(store).value(), {}, /*serve=*/false);

  auto serve = [&](const std::string& name) {
    return std::make_unique<Background>(
        testing::CliPath() + " pve serve --dir " + h.dir.File("pve") +
            " --store 'postgres:" + conninfo + "' --listen 127.0.0.1:0 --port-file " +
            h.dir.File(name + ".port") + " --manufacturer-ca " + h.dir.File("manufacturer-ca.pem"),
        h.dir.File(name + ".log"));
  };
  auto proc_a = serve("a");
  auto proc_b = serve("b");
  const uint16_t port_a = testing::WaitForPortFile(h.dir.File("a.port"));
  const uint16_t port_b = testing::WaitForPortFile(h.dir.File("b.port"));
  ASSERT_NE(port_a, 0) << testing::ReadText(h.dir.File("a.log"));
  ASSERT_NE(port_b, 0) << testing::ReadText(h.dir.File("b.log"));
  auto connect = [&](uint16_t port, const TlsConfig& tls) {
    auto c = HttpClient::Connect("127.0.0.1", port, tls);
    EXPECT_TRUE(c.ok()) << c.error().ToString();
    return std::move(c).value();
  };

  // An enrollment challenge issued by A, answered at B.
  auto first = std::make_unique<SoftTre>(*SoftTre::Create());
  h.Boot(*first);
  {
    auto key = *PrivateKey::Generate(KeyType::kEcP256);
    const EnrollmentFields request{"henb-x",
                                   "femto-a1",
                                   h.reference.release_id,
                                   h.reference.version,
                                   first->EkPublic(),
                                   h.EkCertificate(*first),
                                   first->AkPublic(),
                                   key.Public().ToDer()};
    auto at_a = connect(port_a, h.RoleTls(""));
    auto challenge = at_a->Request("POST", "/v1/enrollments", "application/json",
                                   EncodeEnrollmentFields(request).dump());
    ASSERT_TRUE(challenge.ok());
    ASSERT_EQ(challenge->status, 201) << challenge->body;
    const Json c = Json::parse(challenge->body);
    auto secret =
        first->ActivateCredential(*Base64Decode(c["credential_blob"].get<std::string>()),
                                  *Base64Decode(c["encrypted_secret"].get<std::string>()));
    ASSERT_TRUE(secret.ok());
    auto at_b = connect(port_b, h.RoleTls(""));
    auto issued =
        at_b->Request("POST", "/v1/enrollments/henb-x/activation", "application/json",
                      testing::ActivationBody(c["enrollment_token"], *secret, request, key));
    ASSERT_TRUE(issued.ok());
    EXPECT_EQ(issued->status, 200) << issued->body;
  }

  // A small fleet, enrolled at alternating instances, with a connection to each.
  struct Member {
    std::unique_ptr<SoftTre> tre;
    std::unique_ptr<HttpClient> a, b;
  };
  std::vector<Member> fleet;
  for (int i = 0; i < 8; ++i) {
    Member m{std::make_unique<SoftTre>(*SoftTre::Create()), nullptr, nullptr};
    h.Boot(*m.tre);
    const std::string id = "henb-m" + std::to_string(i);
    auto creds =
        Enroll("127.0.0.1", i % 2 ? port_b : port_a, h.CaPem(), *m.tre, h.Request(id, *m.tre));
    ASSERT_TRUE(creds.ok()) << creds.error().ToString();
    m.a = connect(port_a, DeviceTls(*creds));
    m.b = connect(port_b, DeviceTls(*creds));
    fleet.push_back(std::move(m));
  }

  // The same evidence, posted to both instances at once: exactly one accepts.
  int accepted = 0, refused = 0;
  constexpr int kRounds = 80;
  for (int round = 0; round < kRounds; ++round) {
    Member& m = fleet[static_cast<size_t>(round) % fleet.size()];
    HttpClient& issuer = round % 2 ? *m.b : *m.a;
    auto n = issuer.Request("POST", "/v1/nonces", "application/json", "{}");
    ASSERT_TRUE(n.ok());
    ASSERT_EQ(n->status, 200) << n->body;
    const Json nj = Json::parse(n->body);
    const std::string evidence =
        *EvidenceJson(*m.tre, *Base64Decode(nj["nonce"].get<std::string>()),
                      *ParsePcrSelectionSpec(nj["pcr_selection"].get<std::string>()));
    HttpResponse ra, rb;
    std::thread ta(
        [&] { ra = *m.a->Request("POST", "/v1/evidence", "application/json", evidence); });
    std::thread tb(
        [&] { rb = *m.b->Request("POST", "/v1/evidence", "application/json", evidence); });
    ta.join();
    tb.join();
    for (const HttpResponse* r : {&ra, &rb}) {
      if (r->status == 200) {
        ++accepted;
        EXPECT_EQ(Json::parse(r->body)["status"], "affirming");
      } else {
        ++refused;
        EXPECT_EQ(r->status, 409) << r->body;
        EXPECT_EQ(Json::parse(r->body)["error"]["code"], "policy.nonce");
      }
    }
    // And never again, at either.
    EXPECT_EQ(m.a->Request("POST", "/v1/evidence", "application/json", evidence)->status, 409);
    EXPECT_EQ(m.b->Request("POST", "/v1/evidence", "application/json", evidence)->status, 409);
  }
  EXPECT_EQ(accepted, kRounds);
  EXPECT_EQ(refused, kRounds);

  // A nonce issued by A is still good at B after A has stopped.
  Member& m = fleet.front();
  auto n = m.a->Request("POST", "/v1/nonces", "application/json", "{}");
  ASSERT_TRUE(n.ok());
  const Json nj = Json::parse(n->body);
  EXPECT_EQ(proc_a->Stop(), 0);  // SIGTERM: a clean, graceful exit
  auto r =
      m.b->Request("POST", "/v1/evidence", "application/json",
                   *EvidenceJson(*m.tre, *Base64Decode(nj["nonce"].get<std::string>()),
                                 *ParsePcrSelectionSpec(nj["pcr_selection"].get<std::string>())));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
}

}  // namespace
}  // namespace henbtrust
