// The messages of a device's identity over time: each codec round-trips,
// the readers survive any text with their reader's code, and the renewal's
// binding of the new key to the quote changes with every input.
#include "henbtrust/net/identity_protocol.h"

#include <gtest/gtest.h>

#include "henbtrust/core/json_fields.h"
#include "support/bad_json.h"

namespace henbtrust {
namespace {

RenewalRequest SampleRequest() {
  RenewalRequest r;
  r.evidence.nonce = Bytes(32, 1);
  r.evidence.attest = Bytes(145, 2);
  r.evidence.signature = Bytes(72, 3);
  r.evidence.event_log = Bytes(300, 4);
  r.tls_public_key = Bytes(91, 5);
  r.tls_signature = Bytes(71, 6);
  return r;
}

RenewalAnswer SampleAnswer() {
  return {"henb-1",      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
          "4A1B",        "3C2D",
          1'830'000'000, 17};
}

template <typename Decode>
auto FromText(Decode decode) {
  return [decode](std::string_view text) -> decltype(decode(nlohmann::json())) {
    HENB_ASSIGN_OR_RETURN(auto body, json_fields::ParseObject(text, "the request", 1 << 20));
    return decode(body);
  };
}

TEST(IdentityProtocol, EveryMessageRoundTrips) {
  const RenewalRequest r = SampleRequest();
  auto r2 = FromText(DecodeRenewalRequest)(EncodeRenewalRequest(r));
  ASSERT_TRUE(r2.ok()) << r2.error().ToString();
  EXPECT_EQ(r2->evidence.nonce, r.evidence.nonce);
  EXPECT_EQ(r2->evidence.attest, r.evidence.attest);
  EXPECT_EQ(r2->evidence.signature, r.evidence.signature);
  EXPECT_EQ(r2->evidence.event_log, r.evidence.event_log);
  EXPECT_EQ(r2->tls_public_key, r.tls_public_key);
  EXPECT_EQ(r2->tls_signature, r.tls_signature);
  RenewalRequest no_log = r;
  no_log.evidence.event_log.clear();
  auto r3 = FromText(DecodeRenewalRequest)(EncodeRenewalRequest(no_log));
  ASSERT_TRUE(r3.ok()) << r3.error().ToString();
  EXPECT_TRUE(r3->evidence.event_log.empty());

  const RenewalAnswer a = SampleAnswer();
  auto a2 = DecodeRenewalAnswer(EncodeRenewalAnswer(a));
  ASSERT_TRUE(a2.ok()) << a2.error().ToString();
  EXPECT_EQ(a2->device_id, a.device_id);
  EXPECT_EQ(a2->device_certificate, a.device_certificate);
  EXPECT_EQ(a2->certificate_serial, a.certificate_serial);
  EXPECT_EQ(a2->previous_serial, a.previous_serial);
  EXPECT_EQ(a2->not_after, a.not_after);
  EXPECT_EQ(a2->appraisal_id, a.appraisal_id);

  auto d = FromText(DecodeDecommissionRequest)(EncodeDecommissionRequest({"retired site"}));
  ASSERT_TRUE(d.ok()) << d.error().ToString();
  EXPECT_EQ(d->reason, "retired site");
  auto no_reason = FromText(DecodeDecommissionRequest)("{}");
  ASSERT_TRUE(no_reason.ok()) << no_reason.error().ToString();
  EXPECT_EQ(no_reason->reason, "");
  const DecommissionAnswer da{"henb-1", "decommissioned", "4A1B", "retired site"};
  auto da2 = DecodeDecommissionAnswer(EncodeDecommissionAnswer(da));
  ASSERT_TRUE(da2.ok()) << da2.error().ToString();
  EXPECT_EQ(da2->device_id, da.device_id);
  EXPECT_EQ(da2->state, da.state);
  EXPECT_EQ(da2->certificate_serial, da.certificate_serial);
  EXPECT_EQ(da2->reason, da.reason);
}

TEST(IdentityProtocol, LimitsAreTheNamedOnes) {
  RenewalRequest r = SampleRequest();
  r.tls_signature = Bytes(kMaxActivationSignatureBytes + 1, 6);
  auto over = FromText(DecodeRenewalRequest)(EncodeRenewalRequest(r));
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code(), ErrorCode::kNetBadRequest);
  EXPECT_NE(over.error().message().find("'tls_signature'"), std::string::npos)
      << over.error().message();
  r = SampleRequest();
  r.evidence.nonce = Bytes(kMaxNonceBytes + 1, 1);
  EXPECT_FALSE(FromText(DecodeRenewalRequest)(EncodeRenewalRequest(r)).ok());
  auto long_reason = FromText(DecodeDecommissionRequest)(
      EncodeDecommissionRequest({std::string(kMaxReasonBytes + 1, 'r')}));
  ASSERT_FALSE(long_reason.ok());
  EXPECT_EQ(long_reason.error().code(), ErrorCode::kNetBadRequest);
  RenewalAnswer a = SampleAnswer();
  a.certificate_serial.clear();
  auto empty = DecodeRenewalAnswer(EncodeRenewalAnswer(a));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), ErrorCode::kNetStatus);
}

// The qualifying data is a SHA-256 digest (what any TPM takes as extraData)
// that changes with the device, the nonce and the key, and with nothing
// sliding from one field into the next.
TEST(IdentityProtocol, TheQuoteBindsTheNewKeyToTheDeviceAndTheNonce) {
  const Bytes nonce(32, 1), key(91, 5);
  const Bytes q = RenewalQualifyingData("henb-1", nonce, key);
  EXPECT_EQ(q.size(), 32u);
  EXPECT_EQ(q, RenewalQualifyingData("henb-1", nonce, key));
  EXPECT_NE(q, RenewalQualifyingData("henb-2", nonce, key));
  EXPECT_NE(q, RenewalQualifyingData("henb-1", Bytes(32, 2), key));
  Bytes other_key = key;
  other_key.back() ^= 1;
  EXPECT_NE(q, RenewalQualifyingData("henb-1", nonce, other_key));
  Bytes shifted_nonce = nonce;
  shifted_nonce.push_back(key.front());
  EXPECT_NE(q, RenewalQualifyingData("henb-1", shifted_nonce, ByteView(key).subspan(1)));
  EXPECT_NE(q, nonce) << "a push's evidence (quoted over the bare nonce) is no renewal's";
  const Bytes context = RenewalContext("henb-1", nonce, key);
  EXPECT_EQ(Bytes(context.end() - 32, context.end()), q);
  const std::string label = "henbtrust certificate renewal key v1";
  ASSERT_EQ(context.size(), label.size() + 1 + 32);
  EXPECT_EQ(std::string(context.begin(), context.begin() + static_cast<ptrdiff_t>(label.size())),
            label);
}

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

TEST(IdentityProtocol, NoBadTextMakesADecoderThrow) {
  Survives(EncodeRenewalRequest(SampleRequest()), FromText(DecodeRenewalRequest),
           ErrorCode::kNetBadRequest, [](const RenewalRequest& r) {
             EXPECT_FALSE(r.evidence.nonce.empty());
             EXPECT_LE(r.evidence.nonce.size(), kMaxNonceBytes);
             EXPECT_LE(r.evidence.attest.size(), kMaxTpmStructureBytes);
             EXPECT_FALSE(r.tls_public_key.empty());
             EXPECT_LE(r.tls_public_key.size(), kMaxTpmPublicBytes);
             EXPECT_LE(r.tls_signature.size(), kMaxActivationSignatureBytes);
           });
  Survives(EncodeRenewalAnswer(SampleAnswer()), DecodeRenewalAnswer, ErrorCode::kNetStatus,
           [](const RenewalAnswer& a) {
             EXPECT_FALSE(a.device_certificate.empty());
             EXPECT_LE(a.device_certificate.size(), kMaxCertificatePemBytes);
             EXPECT_LE(a.certificate_serial.size(), kMaxCertificateSerialBytes);
             EXPECT_GE(a.not_after, 0);
           });
  Survives(EncodeDecommissionRequest({"retired"}), FromText(DecodeDecommissionRequest),
           ErrorCode::kNetBadRequest,
           [](const DecommissionRequest& d) { EXPECT_LE(d.reason.size(), kMaxReasonBytes); });
  Survives(EncodeDecommissionAnswer({"henb-1", "decommissioned", "4A1B", "retired"}),
           DecodeDecommissionAnswer, ErrorCode::kNetStatus, [](const DecommissionAnswer& d) {
             EXPECT_FALSE(d.device_id.empty());
             EXPECT_LE(d.reason.size(), kMaxReasonBytes);
           });
}

}  // namespace
}  // namespace henbtrust
