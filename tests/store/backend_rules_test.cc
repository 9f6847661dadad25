// The rules both Store backends share, apart from SQL.
#include "store/backend_rules.h"

#include <gtest/gtest.h>

namespace henbtrust {
namespace {

AuditEntry Entry(const std::string& event) {
  AuditEntry e;
  e.at = 1'800'000'000;
  e.actor = "oam";
  e.subject = "job:7";
  e.event = event;
  e.detail = "to femto 2.0";
  return e;
}

TEST(BackendRules, TheFirstAuditEntryFollowsThirtyTwoZeroBytes) {
  const AuditEntry e = store_rules::ChainAfter({}, Entry("ordered"));
  EXPECT_EQ(e.seq, 1);
  EXPECT_EQ(e.prev_hash, Bytes(32, 0));
  EXPECT_EQ(e.hash, AuditHash(Bytes(32, 0), e));
}

TEST(BackendRules, AnAuditEntryNamesTheHashOfTheOneBefore) {
  const AuditEntry first = store_rules::ChainAfter({}, Entry("ordered"));
  const AuditEntry second = store_rules::ChainAfter({first.seq, first.hash}, Entry("committed"));
  EXPECT_EQ(second.seq, 2);
  EXPECT_EQ(second.prev_hash, first.hash);
  EXPECT_EQ(second.hash, AuditHash(first.hash, second));
  EXPECT_NE(second.hash, first.hash);
}

TEST(BackendRules, ANewJobsAuditNamesTheJobUnlessTheCallerDid) {
  AuditEntry unnamed = Entry("ordered");
  unnamed.subject.clear();
  EXPECT_EQ(store_rules::AuditOfNewJob(unnamed, 42).subject, "job:42");
  EXPECT_EQ(store_rules::AuditOfNewJob(Entry("ordered"), 42).subject, "job:7");
}

TEST(BackendRules, ReenrollmentNeedsTheSameEkAndADeviceNotRevoked) {
  DeviceRecord d;
  d.device_id = "femto-1";
  d.ek_public = Bytes{1, 2, 3};
  EXPECT_TRUE(store_rules::CheckReenrollment(d, Bytes{1, 2, 3}, kDeviceEnrolled, {}).ok());
  const Status other_ek = store_rules::CheckReenrollment(d, Bytes{1, 2, 4}, kDeviceEnrolled, {});
  ASSERT_FALSE(other_ek.ok());
  EXPECT_EQ(other_ek.error().code(), ErrorCode::kPolicyDeviceConflict);
  const Status shorter_ek = store_rules::CheckReenrollment(d, Bytes{1, 2}, kDeviceEnrolled, {});
  ASSERT_FALSE(shorter_ek.ok());
  EXPECT_EQ(shorter_ek.error().code(), ErrorCode::kPolicyDeviceConflict);
  const Status revoked = store_rules::CheckReenrollment(d, Bytes{1, 2, 3}, kDeviceRevoked, {});
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.error().code(), ErrorCode::kPolicyEnrollment);
}

TEST(BackendRules, ARecordedRecoveryKeyStays) {
  DeviceRecord d;
  d.device_id = "femto-1";
  d.ek_public = Bytes{1, 2, 3};
  const Bytes recorded{9, 9};
  // None recorded yet: any (or none) is taken.
  EXPECT_TRUE(store_rules::CheckReenrollment(d, d.ek_public, kDeviceEnrolled, {}).ok());
  d.recovery_public_key = recorded;
  EXPECT_TRUE(store_rules::CheckReenrollment(d, d.ek_public, kDeviceEnrolled, recorded).ok());
  // Recorded: another one, or none, would replace it.
  for (const Bytes& key : {Bytes{9, 8}, Bytes{}}) {
    d.recovery_public_key = key;
    const Status st = store_rules::CheckReenrollment(d, d.ek_public, kDeviceEnrolled, recorded);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code(), ErrorCode::kPolicyDeviceConflict);
  }
}

TEST(BackendRules, ADecommissionedDeviceMayNotEnrollAgain) {
  DeviceRecord d;
  d.device_id = "femto-1";
  d.ek_public = Bytes{1, 2, 3};
  const Status st = store_rules::CheckReenrollment(d, Bytes{1, 2, 3}, kDeviceDecommissioned, {});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), ErrorCode::kPolicyEnrollment);
}

TEST(BackendRules, ARenewalNeedsTheSerialItWasMadeOverAndADeviceInService) {
  EXPECT_TRUE(store_rules::CheckRenewal("femto-1", kDeviceEnrolled, "AA", "AA").ok());
  EXPECT_TRUE(store_rules::CheckRenewal("femto-1", kDeviceEnrolled, "", "").ok());
  EXPECT_EQ(store_rules::CheckRenewal("femto-1", kDeviceEnrolled, "BB", "AA").error().code(),
            ErrorCode::kPolicyDeviceConflict);
  EXPECT_EQ(store_rules::CheckRenewal("femto-1", kDeviceRevoked, "AA", "AA").error().code(),
            ErrorCode::kNetUnauthenticated);
  EXPECT_EQ(store_rules::CheckRenewal("femto-1", kDeviceDecommissioned, "AA", "AA").error().code(),
            ErrorCode::kNetUnauthenticated);
  EXPECT_TRUE(store_rules::CheckDecommission("femto-1", kDeviceEnrolled).ok());
  EXPECT_TRUE(store_rules::CheckDecommission("femto-1", kDeviceRevoked).ok());
  EXPECT_EQ(store_rules::CheckDecommission("femto-1", kDeviceDecommissioned).error().code(),
            ErrorCode::kPolicyState);
}

TEST(BackendRules, ARevokedReleaseAlwaysHasAReason) {
  EXPECT_EQ(store_rules::RevocationReason(""), "revoked");
  EXPECT_EQ(store_rules::RevocationReason("CVE-2031-1"), "CVE-2031-1");
}

}  // namespace
}  // namespace henbtrust
