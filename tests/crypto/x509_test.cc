#include <gtest/gtest.h>

#include "henbtrust/crypto/x509.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

CertificateSpec Spec(const std::string& cn, bool ca) {
  CertificateSpec s;
  s.common_name = cn;
  s.is_ca = ca;
  return s;
}

CertificateSpec LeafSpec() {
  CertificateSpec s = Spec("henb-0001", false);
  s.client_auth = true;
  s.dns_names = {"henb-0001.example"};
  return s;
}

struct Pki {
  PrivateKey root_key = *PrivateKey::Generate(KeyType::kEcP256);
  Certificate root =
      *IssueCertificate(Spec("Test Root", true), root_key.Public(), root_key, nullptr);
  PrivateKey inter_key = *PrivateKey::Generate(KeyType::kEcP256);
  Certificate inter =
      *IssueCertificate(Spec("Test Intermediate", true), inter_key.Public(), root_key, &root);
  PrivateKey leaf_key = *PrivateKey::Generate(KeyType::kEcP256);
  Certificate leaf = *IssueCertificate(LeafSpec(), leaf_key.Public(), inter_key, &inter);
};

TEST(X509, IssuesAVerifiableChain) {
  Pki pki;
  EXPECT_TRUE(pki.root.IsCa());
  EXPECT_FALSE(pki.leaf.IsCa());
  EXPECT_EQ(pki.leaf.Subject(), "CN=henb-0001");
  EXPECT_EQ(pki.leaf.Issuer(), "CN=Test Intermediate");
  EXPECT_EQ(pki.leaf.SubjectKey()->ToDer(), pki.leaf_key.Public().ToDer());
  EXPECT_EQ(pki.leaf.SerialHex().size(), 32u);
  EXPECT_TRUE(VerifyChain(pki.leaf, {pki.inter}, {pki.root}).ok());
}

TEST(X509, RejectsBrokenChains) {
  Pki pki, other;
  EXPECT_EQ(VerifyChain(pki.leaf, {pki.inter}, {other.root}).error().code(),
            ErrorCode::kCryptoCertificate);
  EXPECT_FALSE(VerifyChain(pki.leaf, {}, {pki.root}).ok());
  EXPECT_FALSE(VerifyChain(pki.leaf, {other.inter}, {pki.root}).ok());
  ChainOptions later;
  later.at = std::chrono::system_clock::now() + std::chrono::hours(24 * 400);
  auto expired = VerifyChain(pki.leaf, {pki.inter}, {pki.root}, later);
  ASSERT_FALSE(expired.ok());
  EXPECT_NE(expired.error().message().find("expired"), std::string::npos)
      << expired.error().message();
}

// A service on an injected clock issues on that clock: validity runs from
// issued_at less the backdate to issued_at plus the validity.
TEST(X509, IssuesOnTheGivenClock) {
  using std::chrono::system_clock;
  Pki pki;  // its CAs issued on the machine's clock
  const time_t now = system_clock::to_time_t(system_clock::now());
  const time_t t0 = now - 364 * 86'400;
  CertificateSpec spec = LeafSpec();
  spec.validity = std::chrono::hours(24 * 365);
  spec.issued_at = system_clock::from_time_t(t0);
  auto cert = IssueCertificate(spec, pki.leaf_key.Public(), pki.inter_key, &pki.inter);
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  EXPECT_EQ(system_clock::to_time_t(cert->NotBefore()), t0 - 300);
  EXPECT_EQ(system_clock::to_time_t(cert->NotAfter()), t0 + 365 * 86'400);
  EXPECT_TRUE(VerifyChain(*cert, {pki.inter}, {pki.root}).ok());
  ChainOptions after;
  after.at = system_clock::from_time_t(now + 2 * 86'400);
  EXPECT_TRUE(VerifyChain(pki.leaf, {pki.inter}, {pki.root}, after).ok());
  EXPECT_FALSE(VerifyChain(*cert, {pki.inter}, {pki.root}, after).ok());
  // Unset: the machine's clock.
  EXPECT_NEAR(static_cast<double>(system_clock::to_time_t(pki.leaf.NotBefore())),
              static_cast<double>(now - 300), 60);
}

TEST(X509, RoundTripsPemAndDerAndBundles) {
  Pki pki;
  auto der = Certificate::FromDer(pki.leaf.ToDer());
  ASSERT_TRUE(der.ok());
  EXPECT_EQ(der->ToDer(), pki.leaf.ToDer());
  auto all = Certificate::AllFromPem(pki.leaf.ToPem() + pki.inter.ToPem());
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[1].ToDer(), pki.inter.ToDer());
  EXPECT_FALSE(Certificate::FromPem("garbage").ok());
  Bytes trailing = pki.leaf.ToDer();
  trailing.push_back(0);
  EXPECT_FALSE(Certificate::FromDer(trailing).ok());
}

TEST(X509, OpensslVerifiesOurChain) {
  Pki pki;
  testing::TempDir dir;
  testing::WriteBytes(dir.File("root.pem"), AsBytes(pki.root.ToPem()));
  testing::WriteBytes(dir.File("inter.pem"), AsBytes(pki.inter.ToPem()));
  testing::WriteBytes(dir.File("leaf.pem"), AsBytes(pki.leaf.ToPem()));
  auto r = testing::Run("openssl verify -x509_strict -purpose sslclient -CAfile " +
                        dir.File("root.pem") + " -untrusted " + dir.File("inter.pem") + " " +
                        dir.File("leaf.pem"));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace henbtrust
