// The agent's credentials on disk: kept and read back, and after a power
// loss at every step of replacing them, read as the old pair or the new
// one, never a certificate beside another's key.
#include "henbtrust/agent/credential_store.h"

#include <gtest/gtest.h>

#include "henbtrust/crypto/x509.h"
#include "support/simulated_env.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

using testing::SimulatedEnv;

DeviceCredentials Issued(const std::string& cn) {
  auto key = *PrivateKey::Generate(KeyType::kEcP256);
  CertificateSpec spec;
  spec.common_name = cn;
  spec.client_auth = true;
  auto cert = *IssueCertificate(spec, key.Public(), key, nullptr);
  return {cert.ToPem(), key.ToPem(), "server CA", "client CA of " + cn};
}

// A certificate with its own key.
bool Matches(const DeviceCredentials& c) {
  auto cert = Certificate::FromPem(c.certificate_pem);
  auto key = PrivateKey::FromPem(c.private_key_pem);
  return cert.ok() && key.ok() && cert->SubjectKey()->ToDer() == key->Public().ToDer();
}

TEST(CredentialStore, KeepsAndReadsBackAPair) {
  testing::TempDir dir;
  Env* env = Env::Default();
  auto none = LoadCredentials(env, dir.File("agent"), "server CA");
  ASSERT_TRUE(none.ok()) << none.error().ToString();
  EXPECT_FALSE(none->has_value());
  const DeviceCredentials first = Issued("first");
  ASSERT_TRUE(StoreCredentials(env, dir.File("agent"), first).ok());
  auto read = LoadCredentials(env, dir.File("agent"), "server CA");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->certificate_pem, first.certificate_pem);
  EXPECT_EQ((*read)->private_key_pem, first.private_key_pem);
  EXPECT_EQ((*read)->client_ca_pem, first.client_ca_pem);
  EXPECT_EQ((*read)->ca_pem, "server CA");
  EXPECT_TRUE(Matches(**read));
  const DeviceCredentials second = Issued("second");
  ASSERT_TRUE(StoreCredentials(env, dir.File("agent"), second).ok());
  read = LoadCredentials(env, dir.File("agent"), "server CA");
  ASSERT_TRUE(read.ok() && read->has_value());
  EXPECT_EQ((*read)->certificate_pem, second.certificate_pem);
  EXPECT_FALSE(env->FileExists(dir.File("agent/device.pem.next")));
  EXPECT_FALSE(env->FileExists(dir.File("agent/device.key.next")));
}

// Power lost at the k-th durable operation of a renewal's StoreCredentials,
// for every k: what is read afterwards is one of the two pairs, whole.
TEST(CredentialStore, APowerLossMidwayLeavesTheOldPairOrTheNew) {
  const DeviceCredentials old_pair = Issued("old");
  const DeviceCredentials new_pair = Issued("new");
  int saw_old = 0, saw_new = 0;
  for (int64_t k = 0;; ++k) {
    SCOPED_TRACE("crash at operation " + std::to_string(k));
    testing::TempDir dir;
    const std::string agent = dir.File("agent");
    SimulatedEnv env;
    ASSERT_TRUE(StoreCredentials(&env, agent, old_pair).ok());
    env.CrashAtOperation(k);
    const bool finished = StoreCredentials(&env, agent, new_pair).ok();
    if (!env.power_lost()) env.LosePower();
    env.PowerOn();
    auto read = LoadCredentials(&env, agent, "server CA");
    ASSERT_TRUE(read.ok()) << read.error().ToString();
    ASSERT_TRUE(read->has_value());
    EXPECT_TRUE(Matches(**read));
    const bool is_old = (*read)->certificate_pem == old_pair.certificate_pem;
    const bool is_new = (*read)->certificate_pem == new_pair.certificate_pem;
    EXPECT_TRUE(is_old || is_new);
    saw_old += is_old;
    saw_new += is_new;
    // Read again: the same pair (the recovery is done once and stays).
    auto again = LoadCredentials(&env, agent, "server CA");
    ASSERT_TRUE(again.ok() && again->has_value());
    EXPECT_EQ((*again)->certificate_pem, (*read)->certificate_pem);
    if (finished) {
      EXPECT_TRUE(is_new) << "a finished store was lost";
      break;
    }
    ASSERT_LT(k, 100) << "StoreCredentials never finished";
  }
  EXPECT_GT(saw_old, 0);
  EXPECT_GT(saw_new, 0);
}

}  // namespace
}  // namespace henbtrust
