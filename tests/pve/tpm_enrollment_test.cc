// Enrollment of a real TPM (swtpm, through tss2-esys): its EK certificate is
// the one swtpm_setup issued as the "manufacturer", the PVE's credential
// challenge is activated inside the TPM, and its quotes are then appraised.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "henbtrust/tpm/tpm_tre.h"
#include "pve/pve_harness.h"

namespace henbtrust {
namespace {

TEST(PveTpmEnrollment, SwtpmWithAManufacturerEkCertificateEnrollsAndIsAffirmed) {
  testing::Swtpm tpm(/*manufactured=*/true);
  ASSERT_TRUE(tpm.ok());
  const Bytes ek_cert = tpm.RsaEkCertificate();
  ASSERT_FALSE(ek_cert.empty());
  testing::PveHarness h(nullptr, {tpm.ManufacturerCaPem()});

  TpmTreOptions options;
  options.tcti = tpm.Tcti();
  options.swtpm_control = tpm.Control();
  auto tre = OpenTpmTre(options);
  ASSERT_TRUE(tre.ok()) << tre.error().ToString();
  h.Boot(**tre);

  // The EK certificate is for this TPM's EK; the PVE checks it chains to swtpm's CA.
  EnrollmentRequest request{"henb-tpm",          "femto-a1", h.reference.release_id,
                            h.reference.version, ek_cert,    ""};
  auto creds = Enroll("127.0.0.1", h.port(), h.CaPem(), **tre, request);
  ASSERT_TRUE(creds.ok()) << creds.error().ToString();

  auto client = h.Client(DeviceTls(*creds));
  auto answer = AttestOnce(*client, **tre);
  ASSERT_TRUE(answer.ok()) << answer.error().ToString();
  ASSERT_EQ(answer->status, 200) << answer->body;
  EXPECT_EQ(nlohmann::json::parse(answer->body)["status"], "affirming");

  // The same certificate offered with the soft TrE's EK is refused, and a
  // soft TrE's AK cannot be passed off behind this TPM's EK: the challenge
  // only the TPM could answer fails in the soft TrE.
  auto soft = *SoftTre::Create();
  EnrollmentRequest impostor{"henb-imp",          "femto-a1", h.reference.release_id,
                             h.reference.version, ek_cert,    ""};
  auto refused = Enroll("127.0.0.1", h.port(), h.CaPem(), soft, impostor);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("policy.enrollment"), std::string::npos)
      << refused.error().ToString();
}

}  // namespace
}  // namespace henbtrust
