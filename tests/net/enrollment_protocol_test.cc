// The enrollment messages: each codec round-trips, a device's reading of
// the PVE's answers (challenge, credentials) survives any text with
// kNetStatus, and the PVE's reading of the device's proof with
// kNetBadRequest; nothing decoded exceeds its named limit.
#include "henbtrust/net/enrollment.h"

#include <gtest/gtest.h>

#include "henbtrust/core/json_fields.h"
#include "support/bad_json.h"

namespace henbtrust {
namespace {

EnrollmentChallenge SampleChallenge() {
  return {"henb-1", Bytes(70, 1), Bytes(256, 2), "c2VhbGVk.dG9rZW4", 1'800'000'300};
}

IssuedCredentials SampleCredentials() {
  return {"henb-1", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
          "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n",
          "-----BEGIN CERTIFICATE-----\nMIID\n-----END CERTIFICATE-----\n"};
}

Result<ActivationAnswer> DecodeActivationText(std::string_view text) {
  HENB_ASSIGN_OR_RETURN(auto body, json_fields::ParseObject(text, "the proof", 1 << 20));
  return DecodeActivationAnswer(body);
}

TEST(EnrollmentProtocol, EveryMessageRoundTrips) {
  const EnrollmentChallenge c = SampleChallenge();
  auto c2 = DecodeEnrollmentChallenge(EncodeEnrollmentChallenge(c));
  ASSERT_TRUE(c2.ok()) << c2.error().ToString();
  EXPECT_EQ(c2->device_id, c.device_id);
  EXPECT_EQ(c2->credential_blob, c.credential_blob);
  EXPECT_EQ(c2->encrypted_secret, c.encrypted_secret);
  EXPECT_EQ(c2->enrollment_token, c.enrollment_token);
  EXPECT_EQ(c2->expires_at, c.expires_at);

  const ActivationAnswer a{"token", Bytes(32, 3), Bytes(72, 4)};
  auto a2 = DecodeActivationText(EncodeActivationAnswer(a));
  ASSERT_TRUE(a2.ok()) << a2.error().ToString();
  EXPECT_EQ(a2->enrollment_token, a.enrollment_token);
  EXPECT_EQ(a2->proof, a.proof);
  EXPECT_EQ(a2->tls_signature, a.tls_signature);

  const IssuedCredentials i = SampleCredentials();
  auto i2 = DecodeIssuedCredentials(EncodeIssuedCredentials(i));
  ASSERT_TRUE(i2.ok()) << i2.error().ToString();
  EXPECT_EQ(i2->device_id, i.device_id);
  EXPECT_EQ(i2->device_certificate, i.device_certificate);
  EXPECT_EQ(i2->ca_certificate, i.ca_certificate);
  EXPECT_EQ(i2->client_ca_certificate, i.client_ca_certificate);
}

TEST(EnrollmentProtocol, LimitsAreTheNamedOnes) {
  ActivationAnswer a{"token", Bytes(kMaxActivationProofBytes, 3), Bytes(72, 4)};
  EXPECT_TRUE(DecodeActivationText(EncodeActivationAnswer(a)).ok());
  a.proof.push_back(0);  // one byte over, though its base64 is no longer
  auto over = DecodeActivationText(EncodeActivationAnswer(a));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code(), ErrorCode::kNetBadRequest);
  EXPECT_NE(over.error().message().find("'proof'"), std::string::npos) << over.error().message();

  IssuedCredentials i = SampleCredentials();
  i.ca_certificate = std::string(kMaxCertificatePemBytes + 1, 'A');
  auto big = DecodeIssuedCredentials(EncodeIssuedCredentials(i));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::kNetStatus);
  EXPECT_NE(big.error().message().find("'ca_certificate'"), std::string::npos);

  EnrollmentChallenge c = SampleChallenge();
  c.enrollment_token.clear();
  auto empty = DecodeEnrollmentChallenge(EncodeEnrollmentChallenge(c));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), ErrorCode::kNetStatus);
}

// Every bad variant of every message: an error of the reader's code, or a
// value within the limits; never an exception.
template <typename Decode, typename Check>
void Survives(const std::string& good, Decode decode, ErrorCode code, Check check) {
  ASSERT_TRUE(decode(good).ok()) << good;
  int refused = 0;
  for (const auto& bad : testing::BadVariants(good)) {
    SCOPED_TRACE(bad.what);
    EXPECT_NO_THROW({
      auto r = decode(bad.text);
      if (r.ok()) {
        check(*r);
      } else {
        ++refused;
        EXPECT_EQ(r.error().code(), code) << r.error().ToString();
      }
    });
  }
  EXPECT_GT(refused, 0);
}

TEST(EnrollmentProtocol, NoBadTextMakesADecoderThrow) {
  Survives(EncodeEnrollmentChallenge(SampleChallenge()), DecodeEnrollmentChallenge,
           ErrorCode::kNetStatus, [](const EnrollmentChallenge& c) {
             EXPECT_LE(c.device_id.size(), kMaxDeviceIdBytes);
             EXPECT_LE(c.credential_blob.size(), kMaxTpmStructureBytes);
             EXPECT_FALSE(c.enrollment_token.empty());
             EXPECT_LE(c.enrollment_token.size(), kMaxEnrollmentTokenBytes);
           });
  Survives(EncodeActivationAnswer({"token", Bytes(32, 3), Bytes(72, 4)}), DecodeActivationText,
           ErrorCode::kNetBadRequest, [](const ActivationAnswer& a) {
             EXPECT_LE(a.proof.size(), kMaxActivationProofBytes);
             EXPECT_LE(a.tls_signature.size(), kMaxActivationSignatureBytes);
           });
  Survives(EncodeIssuedCredentials(SampleCredentials()), DecodeIssuedCredentials,
           ErrorCode::kNetStatus, [](const IssuedCredentials& i) {
             EXPECT_FALSE(i.device_certificate.empty());
             EXPECT_LE(i.client_ca_certificate.size(), kMaxCertificatePemBytes);
           });
}

}  // namespace
}  // namespace henbtrust
