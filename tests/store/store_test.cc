// One test suite for every Store backend.
#include "henbtrust/store/store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <tuple>
#include <vector>

#include "support/postgres.h"
#include "support/simulated_env.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

using namespace std::chrono_literals;

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  void SetUp() override {
    if (GetParam() == "postgres") {
      if (pg_ == nullptr) pg_ = new testing::PostgresServer();  // one server for the whole suite
      ASSERT_TRUE(pg_->ok()) << pg_->error();
      location_ = pg_->NewDatabase();
    } else {
      location_ = dir_.File("pve.db");
    }
    store_ = Open();
  }

  std::unique_ptr<Store> Open() {
    auto s =
        GetParam() == "postgres" ? OpenPostgresStore(location_) : OpenSqliteStore(location_, &env_);
    EXPECT_TRUE(s.ok()) << s.error().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static DeviceRecord Device(const std::string& id) {
    return DeviceRecord{id,
                        "femto-a1",
                        Bytes{1, 2, 0, 3},
                        Bytes{0x30, 0},
                        Bytes(90, 7),
                        "femto",
                        "1.0",
                        "enrolled",
                        3,
                        12345,
                        1'800'000'000,
                        "192.0.2.7:9443"};
  }

  static testing::PostgresServer* pg_;
  testing::SimulatedEnv env_;  // the SQLite store's clock
  testing::TempDir dir_;
  std::string location_;
  std::unique_ptr<Store> store_;
};

testing::PostgresServer* StoreTest::pg_ = nullptr;

TEST_P(StoreTest, DevicesRoundTripAndReplace) {
  ASSERT_TRUE(store_);
  EXPECT_EQ(store_->Backend(), GetParam());
  EXPECT_FALSE(store_->GetDevice("henb-1")->has_value());
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  auto got = store_->GetDevice("henb-1");
  ASSERT_TRUE(got.ok() && got->has_value());
  const DeviceRecord& d = **got;
  EXPECT_EQ(d.hardware_model, "femto-a1");
  EXPECT_EQ(d.ek_public, (Bytes{1, 2, 0, 3}));  // binary, with a zero byte
  EXPECT_EQ(d.ak_public, Bytes(90, 7));
  EXPECT_EQ(d.reset_count, 3u);
  EXPECT_EQ(d.clock, 12345u);
  EXPECT_EQ(d.release_id, "femto");
  EXPECT_EQ(d.release_version, "1.0");
  EXPECT_EQ(d.agent_address, "192.0.2.7:9443");
  DeviceRecord changed = Device("henb-1");
  changed.state = "quarantined";
  changed.release_version = "2.0";
  ASSERT_TRUE(store_->PutDevice(changed).ok());
  EXPECT_EQ((*store_->GetDevice("henb-1"))->state, "quarantined");
  // An empty value is stored as empty, not NULL.
  DeviceRecord bare = Device("henb-bare");
  bare.ek_certificate.clear();
  ASSERT_TRUE(store_->PutDevice(bare).ok());
  EXPECT_TRUE((*store_->GetDevice("henb-bare"))->ek_certificate.empty());
  // Values are bound, never spliced into SQL.
  DeviceRecord odd = Device("x'); DROP TABLE devices; --");
  ASSERT_TRUE(store_->PutDevice(odd).ok());
  EXPECT_TRUE(store_->GetDevice(odd.device_id)->has_value());
  EXPECT_TRUE(store_->GetDevice("henb-1")->has_value());
}

TEST_P(StoreTest, ManifestsAndRevocation) {
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutManifest({"henb-fw", "2.0", Bytes{0, 1, 2}, ""}).ok());
  auto m = store_->GetManifest("henb-fw", "2.0");
  ASSERT_TRUE(m.ok() && m->has_value());
  EXPECT_EQ((*m)->manifest, (Bytes{0, 1, 2}));
  EXPECT_TRUE((*m)->revoked_reason.empty());
  ASSERT_TRUE(store_->RevokeRelease("henb-fw", "2.0", "CVE in the OS").ok());
  EXPECT_EQ((*store_->GetManifest("henb-fw", "2.0"))->revoked_reason, "CVE in the OS");
  EXPECT_EQ(store_->RevokeRelease("henb-fw", "9.9", "x").error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(store_->GetManifest("henb-fw", "1.0")->has_value());
}

TEST_P(StoreTest, NoncesAreSpentOnceAndForgottenAfterExpiry) {
  ASSERT_TRUE(store_);
  const Bytes n1(32, 1), n2(32, 2);
  EXPECT_TRUE(*store_->SpendNonce(n1, 1060));
  EXPECT_FALSE(*store_->SpendNonce(n1, 1060));  // replay
  EXPECT_TRUE(*store_->SpendNonce(n2, 990));
  EXPECT_EQ(*store_->PurgeSpentNonces(1000), 1);  // n2 expired
  EXPECT_FALSE(*store_->SpendNonce(n1, 1060));    // n1 still remembered
}

TEST_P(StoreTest, AnAppraisalSpendsItsNonceInTheSameTransaction) {
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  AppraisalRecord a{0, "henb-1", "affirming", "jwt-1", 10};
  a.spent_nonce = Bytes(32, 5);
  a.nonce_expires_at = 2000;
  a.advance_clock = true;
  a.reset_count = 3;
  a.clock = 99999;
  ASSERT_TRUE(store_->RecordAppraisal(a).ok());
  // The same nonce again: refused, and nothing of it is recorded.
  a.result = "jwt-2";
  a.clock = 111111;
  auto again = store_->RecordAppraisal(a);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kPolicyNonce);
  EXPECT_EQ((*store_->LatestAppraisal("henb-1"))->result, "jwt-1");
  EXPECT_EQ((*store_->GetDevice("henb-1"))->clock, 99999u);
  EXPECT_FALSE(*store_->SpendNonce(a.spent_nonce, 2000));
}

// docs/security.md: an enrollment is written in one transaction that checks
// the EK and the revocation again, keeps the TPM clock seen so far, and
// appends its audit entry; a revocation changes the state only.
TEST_P(StoreTest, EnrollmentAndRevocationCheckInTheirTransaction) {
  ASSERT_TRUE(store_);
  auto audit = [](const std::string& event) {
    return AuditEntry{0, 1, "pve", "device:henb-1", event, "", {}, {}};
  };
  DeviceRecord d = Device("henb-1");  // reset count 3, clock 12345
  d.certificate_serial = "AA01";
  ASSERT_TRUE(store_->EnrollDevice(d, audit("enrolled")).ok());
  // Another EK under the same id: refused, nothing written.
  DeviceRecord other = d;
  other.ek_public = Bytes{9, 9};
  other.certificate_serial = "BB02";
  auto conflict = store_->EnrollDevice(other, audit("enrolled"));
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code(), ErrorCode::kPolicyDeviceConflict);
  EXPECT_EQ((*store_->GetDevice("henb-1"))->certificate_serial, "AA01");
  // The same EK again (a new AK and certificate) with an older clock: the
  // record is replaced, the clock stays.
  DeviceRecord again = d;
  again.ak_public = Bytes(90, 8);
  again.certificate_serial = "CC03";
  again.reset_count = 0;
  again.clock = 0;
  ASSERT_TRUE(store_->EnrollDevice(again, audit("re-enrolled")).ok());
  auto now = **store_->GetDevice("henb-1");
  EXPECT_EQ(now.certificate_serial, "CC03");
  EXPECT_EQ(now.ak_public, again.ak_public);
  EXPECT_EQ(now.reset_count, 3u);
  EXPECT_EQ(now.clock, 12345u);
  // Revoked: its serial matches no certificate, and it may not enroll again.
  ASSERT_TRUE(store_->RevokeDevice("henb-1", 77, audit("device revoked")).ok());
  now = **store_->GetDevice("henb-1");
  EXPECT_EQ(now.state, kDeviceRevoked);
  EXPECT_FALSE(CheckDeviceCertificate(now, "CC03").ok());
  EXPECT_EQ(now.ak_public, again.ak_public);
  auto refused = store_->EnrollDevice(again, audit("re-enrolled"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPolicyEnrollment);
  EXPECT_EQ(store_->RevokeDevice("henb-9", 77, audit("x")).error().code(), ErrorCode::kNotFound);
  // One audit entry per change that was made.
  auto entries = *store_->ListAudit(0, 10);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].event, "enrolled");
  EXPECT_EQ(entries[1].event, "re-enrolled");
  EXPECT_EQ(entries[2].event, "device revoked");
}

// A renewal replaces the serial it was made over, with its audit entry, in
// one transaction; over a serial replaced meanwhile, or for a revoked or
// decommissioned device, it changes nothing and appends nothing.
TEST_P(StoreTest, ARenewalReplacesTheSerialItWasMadeOverWithItsAuditEntry) {
  ASSERT_TRUE(store_);
  auto audit = [](const std::string& event) {
    return AuditEntry{0, 1, "pve", "device:henb-1", event, "", {}, {}};
  };
  DeviceRecord d = Device("henb-1");
  d.certificate_serial = "AA01";
  ASSERT_TRUE(store_->EnrollDevice(d, audit("enrolled")).ok());
  ASSERT_TRUE(
      store_->RenewDeviceCertificate("henb-1", "AA01", "BB02", 50, audit("certificate renewed"))
          .ok());
  DeviceRecord now = **store_->GetDevice("henb-1");
  EXPECT_EQ(now.certificate_serial, "BB02");
  EXPECT_EQ(now.updated_at, 50);
  EXPECT_EQ(now.state, kDeviceEnrolled);
  EXPECT_EQ(now.ak_public, d.ak_public);
  EXPECT_EQ(now.clock, d.clock);
  EXPECT_TRUE(CheckDeviceCertificate(now, "BB02").ok());
  EXPECT_EQ(CheckDeviceCertificate(now, "AA01").error().code(), ErrorCode::kNetUnauthenticated);
  // A second renewal over the certificate the first replaced loses.
  auto stale =
      store_->RenewDeviceCertificate("henb-1", "AA01", "CC03", 51, audit("certificate renewed"));
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().code(), ErrorCode::kPolicyDeviceConflict);
  EXPECT_EQ((*store_->GetDevice("henb-1"))->certificate_serial, "BB02");
  EXPECT_EQ(store_->RenewDeviceCertificate("henb-9", "", "DD04", 51, audit("x")).error().code(),
            ErrorCode::kNotFound);
  // Revoked: refused, the record as it was.
  ASSERT_TRUE(store_->RevokeDevice("henb-1", 60, audit("device revoked")).ok());
  const std::string revoked_serial = (*store_->GetDevice("henb-1"))->certificate_serial;
  auto refused = store_->RenewDeviceCertificate("henb-1", revoked_serial, "EE05", 61,
                                                audit("certificate renewed"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kNetUnauthenticated);
  EXPECT_EQ((*store_->GetDevice("henb-1"))->certificate_serial, revoked_serial);
  auto entries = *store_->ListAudit(0, 10);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[1].event, "certificate renewed");
  EXPECT_EQ(entries[2].event, "device revoked");
  EXPECT_EQ(*VerifyAuditChain(*store_), 3);
}

// Decommissioned: refused like a revoked device, but the serial stays, and
// it is listed for the TLS servers to refuse; it neither renews nor enrolls.
TEST_P(StoreTest, ADecommissionedDeviceKeepsItsSerialForTheServersToRefuse) {
  ASSERT_TRUE(store_);
  auto audit = [](const std::string& event) {
    return AuditEntry{0, 1, "operator:test", "device:henb-1", event, "", {}, {}};
  };
  EXPECT_TRUE(store_->RefusedCertificateSerials()->empty());
  for (const char* id : {"henb-1", "henb-2"}) {
    DeviceRecord d = Device(id);
    d.certificate_serial = std::string("AA-") + id;
    ASSERT_TRUE(store_->EnrollDevice(d, audit("enrolled")).ok());
  }
  ASSERT_TRUE(store_->DecommissionDevice("henb-1", 70, audit("device decommissioned")).ok());
  DeviceRecord now = **store_->GetDevice("henb-1");
  EXPECT_EQ(now.state, kDeviceDecommissioned);
  EXPECT_EQ(now.certificate_serial, "AA-henb-1");
  EXPECT_EQ(now.updated_at, 70);
  auto check = CheckDeviceCertificate(now, "AA-henb-1");
  ASSERT_FALSE(check.ok());
  EXPECT_EQ(check.error().code(), ErrorCode::kNetUnauthenticated);
  EXPECT_NE(check.error().message().find("decommissioned"), std::string::npos);
  EXPECT_EQ(*store_->RefusedCertificateSerials(), std::vector<std::string>{"AA-henb-1"});
  // Once only; an unknown device is not found.
  auto again = store_->DecommissionDevice("henb-1", 71, audit("device decommissioned"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kPolicyState);
  EXPECT_EQ(store_->DecommissionDevice("henb-9", 71, audit("x")).error().code(),
            ErrorCode::kNotFound);
  // Neither a renewal nor a new enrollment brings it back.
  auto renewal =
      store_->RenewDeviceCertificate("henb-1", "AA-henb-1", "BB02", 72, audit("renewed"));
  ASSERT_FALSE(renewal.ok());
  EXPECT_EQ(renewal.error().code(), ErrorCode::kNetUnauthenticated);
  DeviceRecord back = Device("henb-1");
  back.certificate_serial = "CC03";
  auto enrolled = store_->EnrollDevice(back, audit("re-enrolled"));
  ASSERT_FALSE(enrolled.ok());
  EXPECT_EQ(enrolled.error().code(), ErrorCode::kPolicyEnrollment);
  EXPECT_EQ((*store_->GetDevice("henb-1"))->state, kDeviceDecommissioned);
  // Another instance on the same store sees the list.
  auto other = Open();
  ASSERT_TRUE(other);
  EXPECT_EQ(*other->RefusedCertificateSerials(), std::vector<std::string>{"AA-henb-1"});
  auto entries = *store_->ListAudit(0, 10);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[2].event, "device decommissioned");
}

TEST_P(StoreTest, AppraisalsAreKeptInOrder) {
  ASSERT_TRUE(store_);
  EXPECT_FALSE(store_->LatestAppraisal("henb-1")->has_value());
  const int64_t a = *store_->RecordAppraisal({0, "henb-1", "affirming", "jwt-1", 10});
  const int64_t b = *store_->RecordAppraisal({0, "henb-1", "contraindicated", "jwt-2", 11});
  EXPECT_LT(a, b);
  auto latest = store_->LatestAppraisal("henb-1");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->status, "contraindicated");
  EXPECT_EQ((*latest)->result, "jwt-2");
}

// Concurrent writers (grouped into shared transactions by the SQLite store):
// each nonce, offered by two threads, records exactly one appraisal.
TEST_P(StoreTest, ConcurrentAppraisalsSpendEachNonceOnce) {
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  constexpr int kThreads = 8, kPerThread = 40;
  std::atomic<int> recorded{0}, refused{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        AppraisalRecord a{0, "henb-1", "affirming", "jwt", 10};
        // Threads 2k and 2k+1 offer the same nonces.
        a.spent_nonce = Bytes{static_cast<uint8_t>(t / 2), static_cast<uint8_t>(i), 7};
        a.nonce_expires_at = 5000;
        auto r = store_->RecordAppraisal(a);
        if (r.ok()) {
          ++recorded;
        } else if (r.error().code() == ErrorCode::kPolicyNonce) {
          ++refused;
        } else {
          ++errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(recorded.load(), kThreads / 2 * kPerThread);
  EXPECT_EQ(refused.load(), kThreads / 2 * kPerThread);
}

// Records handed over without waiting: each is answered once, a nonce
// offered twice is recorded once, and the ids follow the order of handing over.
TEST_P(StoreTest, AppraisalsRecordedWithoutWaitingAreEachAnsweredOnce) {
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  constexpr int kRecords = 200;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result<int64_t>>> answers(kRecords);
  int answered = 0;
  for (int i = 0; i < kRecords; ++i) {
    AppraisalRecord a{0, "henb-1", "affirming", "jwt-" + std::to_string(i), 10};
    a.spent_nonce = Bytes{9, static_cast<uint8_t>(i / 2)};  // records 2k and 2k+1 share one
    a.nonce_expires_at = 5000;
    store_->RecordAppraisalAsync(a, [&, i](Result<int64_t> id) {
      std::lock_guard<std::mutex> lock(mu);
      EXPECT_FALSE(answers[static_cast<size_t>(i)].has_value()) << "answered twice: " << i;
      answers[static_cast<size_t>(i)] = std::move(id);
      ++answered;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return answered == kRecords; }));
  int64_t last = 0;
  for (int i = 0; i < kRecords; ++i) {
    const auto& r = *answers[static_cast<size_t>(i)];
    if (i % 2 == 0) {
      ASSERT_TRUE(r.ok()) << i << ": " << r.error().ToString();
      EXPECT_GT(*r, last);
      last = *r;
    } else {
      ASSERT_FALSE(r.ok()) << i;
      EXPECT_EQ(r.error().code(), ErrorCode::kPolicyNonce);
    }
  }
  auto latest = store_->LatestAppraisal("henb-1");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->id, last);
  EXPECT_EQ((*latest)->result, "jwt-" + std::to_string(kRecords - 2));
}

TEST_P(StoreTest, AppraisalsAdvanceTheDeviceClockButNeverBack) {
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());  // reset count 3, clock 12345
  auto record = [&](uint32_t reset_count, uint64_t clock) {
    AppraisalRecord a{0, "henb-1", "affirming", "jwt", 10};
    a.advance_clock = true;
    a.reset_count = reset_count;
    a.clock = clock;
    ASSERT_TRUE(store_->RecordAppraisal(a).ok());
  };
  EXPECT_EQ((*store_->GetDevice("henb-1"))->clock, 12345u);
  record(3, 20000);
  EXPECT_EQ((*store_->GetDevice("henb-1"))->clock, 20000u);
  record(3, 15000);  // back: ignored
  EXPECT_EQ((*store_->GetDevice("henb-1"))->clock, 20000u);
  record(4, 10);  // a reboot
  EXPECT_EQ((*store_->GetDevice("henb-1"))->reset_count, 4u);
  EXPECT_EQ((*store_->GetDevice("henb-1"))->clock, 10u);
  record(2, 99999);  // back: ignored
  EXPECT_EQ((*store_->GetDevice("henb-1"))->reset_count, 4u);
}

// What one instance changes of a device, another sees: at once after its
// own next commit, and within a fraction of a second in any case (the
// SQLite store keeps devices it read, and looks for other connections'
// commits after each of its own and before a read, at most 100 ms apart on
// its Env's clock, simulated here).
TEST_P(StoreTest, ADeviceChangedThroughAnotherInstanceIsSeen) {
  ASSERT_TRUE(store_);
  auto other = Open();
  ASSERT_TRUE(other);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  ASSERT_TRUE(store_->PutDevice(Device("henb-2")).ok());
  EXPECT_EQ((*store_->GetDevice("henb-1"))->release_version, "1.0");
  EXPECT_EQ((*store_->GetDevice("henb-2"))->clock, 12345u);

  ASSERT_TRUE(other->SetDeviceRelease("henb-1", "femto", "2.0", 77).ok());
  AppraisalRecord a{0, "henb-2", "affirming", "jwt", 10};
  a.advance_clock = true;
  a.reset_count = 3;
  a.clock = 20000;
  ASSERT_TRUE(store_->RecordAppraisal(a).ok());
  EXPECT_EQ((*store_->GetDevice("henb-1"))->release_version, "2.0");
  EXPECT_EQ((*store_->GetDevice("henb-2"))->clock, 20000u);

  // Re-enrolled elsewhere with another AK; appraised elsewhere.
  DeviceRecord again = Device("henb-1");
  again.ak_public = Bytes(90, 9);
  ASSERT_TRUE(other->PutDevice(again).ok());
  a.clock = 30000;
  ASSERT_TRUE(other->RecordAppraisal(a).ok());
  env_.AdvanceMillis(150);
  EXPECT_EQ((*store_->GetDevice("henb-1"))->ak_public, again.ak_public);
  EXPECT_EQ((*store_->GetDevice("henb-2"))->clock, 30000u);
}

// The OAM's commit sets the recorded release and nothing else: a clock that
// an appraisal advanced after the commit's read of the device stays.
TEST_P(StoreTest, SettingTheReleaseLeavesTheClockAnAppraisalAdvanced) {
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());  // femto 1.0, reset count 3, clock 12345
  AppraisalRecord a{0, "henb-1", "affirming", "jwt", 10};
  a.advance_clock = true;
  a.reset_count = 3;
  a.clock = 50000;
  ASSERT_TRUE(store_->RecordAppraisal(a).ok());
  EXPECT_EQ((*store_->GetDevice("henb-1"))->release_version, "1.0");
  ASSERT_TRUE(store_->SetDeviceRelease("henb-1", "femto", "2.0", 77).ok());
  const DeviceRecord d = **store_->GetDevice("henb-1");
  EXPECT_EQ(d.release_id, "femto");
  EXPECT_EQ(d.release_version, "2.0");
  EXPECT_EQ(d.updated_at, 77);
  EXPECT_EQ(d.clock, 50000u);
  EXPECT_EQ(d.reset_count, 3u);
  EXPECT_EQ(d.ak_public, Device("henb-1").ak_public);
  EXPECT_EQ(d.state, Device("henb-1").state);
  auto unknown = store_->SetDeviceRelease("henb-none", "femto", "2.0", 77);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code(), ErrorCode::kNotFound);
}

TEST_P(StoreTest, StateSurvivesReopeningAndMigrationsRunOnce) {
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  store_.reset();
  store_ = Open();
  ASSERT_TRUE(store_);
  EXPECT_TRUE(store_->GetDevice("henb-1")->has_value());
}

// PostgreSQL: statements are prepared once per connection; a connection the
// server dropped is opened again, and its statements are prepared again.
TEST_P(StoreTest, ADroppedConnectionComesBackWithItsStatementsPreparedAgain) {
  if (GetParam() != "postgres") GTEST_SKIP() << "PostgreSQL only";
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->GetDevice("henb-1").ok());
  const testing::CommandResult killed =
      testing::Run("psql '" + location_ +
                   "' -Atc \"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                   "WHERE datname = current_database() AND pid <> pg_backend_pid()\"");
  ASSERT_EQ(killed.exit_code, 0) << killed.err;
  ASSERT_NE(killed.out, "0\n");
  // The query that finds its connection dropped fails; the ones after work.
  int failed = 0;
  for (int i = 0; i < 20; ++i) {
    auto d = store_->GetDevice("henb-1");
    if (!d.ok()) ++failed;
  }
  EXPECT_GE(failed, 1);
  for (int i = 0; i < 5; ++i) {
    auto d = store_->GetDevice("henb-1");
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    EXPECT_TRUE(d->has_value());
    AppraisalRecord a{0, "henb-1", "affirming", "jwt", 10};
    a.spent_nonce = Bytes{5, static_cast<uint8_t>(i)};
    a.nonce_expires_at = 5000;
    EXPECT_TRUE(store_->RecordAppraisal(a).ok());
  }
}

// Records handed over without waiting go to PostgreSQL in one pipeline per
// batch. A batch on a connection the server has dropped fails whole: every
// record is answered once, none answered ok is missing, none answered with
// an error was written; and the batches after it commit (the connection
// left pipeline mode and came back).
TEST_P(StoreTest, ABatchOnADroppedConnectionFailsWholeAndTheBatchesAfterItCommit) {
  if (GetParam() != "postgres") GTEST_SKIP() << "PostgreSQL only";
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  std::mutex mu;
  std::condition_variable cv;
  // Hands over `n` records with nonces from `first` on; waits for every
  // answer; returns how many were answered ok (each must be answered once).
  auto record_all = [&](int first, int n) {
    std::vector<int> answers(static_cast<size_t>(n), 0);
    int answered = 0;
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      AppraisalRecord a{0, "henb-1", "affirming", "jwt-" + std::to_string(first + i), 10};
      a.spent_nonce =
          Bytes{7, static_cast<uint8_t>((first + i) >> 8), static_cast<uint8_t>(first + i)};
      a.nonce_expires_at = 5000;
      store_->RecordAppraisalAsync(a, [&, i](Result<int64_t> id) {
        std::lock_guard<std::mutex> lock(mu);
        ++answers[static_cast<size_t>(i)];
        if (id.ok()) {
          ++ok;
        } else {
          EXPECT_EQ(id.error().code(), ErrorCode::kStore) << id.error().ToString();
        }
        ++answered;
        cv.notify_all();
      });
    }
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, 30s, [&] { return answered == n; }));
    for (int i = 0; i < n; ++i) EXPECT_EQ(answers[static_cast<size_t>(i)], 1) << i;
    return ok;
  };
  int stored = record_all(0, 50);
  ASSERT_EQ(stored, 50);
  const testing::CommandResult killed =
      testing::Run("psql '" + location_ +
                   "' -Atc \"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                   "WHERE datname = current_database() AND pid <> pg_backend_pid()\"");
  ASSERT_EQ(killed.exit_code, 0) << killed.err;
  const int during = record_all(50, 100);
  EXPECT_LT(during, 100);  // the first batch met a dropped connection
  stored += during;
  // Each dropped connection fails one batch and is then reset.
  int next = 150;
  for (int tries = 0; tries < 10 && record_all(next, 1) == 0; ++tries) ++next;
  ++stored;
  ++next;
  EXPECT_EQ(record_all(next, 100), 100);
  stored += 100;
  auto listed = store_->ListAppraisals("henb-1", 0, 10'000);
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  EXPECT_EQ(static_cast<int>(listed->size()), stored);
}

// Two service instances on one database: each nonce is accepted once.
TEST_P(StoreTest, TwoInstancesSpendEachNonceExactlyOnce) {
  ASSERT_TRUE(store_);
  auto other = Open();
  ASSERT_TRUE(other);
  constexpr int kNonces = 200;
  std::atomic<int> accepted{0};
  std::atomic<int> errors{0};
  auto worker = [&](Store* s) {
    for (int i = 0; i < kNonces; ++i) {
      Bytes n(16, 0);
      n[0] = static_cast<uint8_t>(i);
      n[1] = static_cast<uint8_t>(i >> 8);
      auto r = s->SpendNonce(n, 1'000'000);
      if (!r.ok()) {
        ++errors;
      } else if (*r) {
        ++accepted;
      }
    }
  };
  std::thread t1(worker, store_.get()), t2(worker, other.get());
  t1.join();
  t2.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(accepted.load(), kNonces);
}

UpdateJob Job(const std::string& device, JobState state = JobState::kOpened) {
  UpdateJob j;
  j.device_id = device;
  j.release_id = "femto";
  j.version = "2.0";
  j.from_release_id = "femto";
  j.from_version = "1.0";
  j.state = state;
  j.expected_tim = Bytes(32, 0xab);
  j.order_nonce = Bytes(32, 0xcd);
  j.order = "token";
  j.deadline = 500;
  j.next_action_at = 100;
  j.report = "{}";
  j.detail = "opened by test";
  j.created_at = 10;
  j.updated_at = 10;
  return j;
}

AuditEntry Audit(const std::string& event) {
  return AuditEntry{0, 10, "test", "", event, "d", {}, {}};
}

TEST_P(StoreTest, JobsRoundTripAndOneOpenJobPerDevice) {
  ASSERT_TRUE(store_);
  auto id = store_->CreateJob(Job("henb-1"), Audit("opened"));
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  auto again = store_->CreateJob(Job("henb-1"), Audit("opened"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kPolicyJobConflict);
  auto got = store_->GetJob(*id);
  ASSERT_TRUE(got.ok() && got->has_value());
  UpdateJob want = Job("henb-1");
  want.id = *id;
  const UpdateJob& j = **got;
  EXPECT_EQ(j.id, want.id);
  EXPECT_EQ(j.device_id, want.device_id);
  EXPECT_EQ(j.version, want.version);
  EXPECT_EQ(j.from_version, want.from_version);
  EXPECT_EQ(j.state, want.state);
  EXPECT_TRUE(j.open);
  EXPECT_EQ(j.expected_tim, want.expected_tim);
  EXPECT_EQ(j.order_nonce, want.order_nonce);
  EXPECT_EQ(j.order, want.order);
  EXPECT_EQ(j.deadline, want.deadline);
  EXPECT_EQ(j.next_action_at, want.next_action_at);
  EXPECT_EQ(j.detail, want.detail);
  auto open = store_->OpenJobFor("henb-1");
  ASSERT_TRUE(open.ok() && open->has_value());
  EXPECT_EQ((*open)->id, *id);

  // Once closed, the device may have a new job.
  UpdateJob done = j;
  done.state = JobState::kCommitted;
  done.open = false;
  ASSERT_TRUE(*store_->TransitionJob(done, JobState::kOpened, Audit("committed")));
  EXPECT_FALSE(store_->OpenJobFor("henb-1")->has_value());
  auto next = store_->CreateJob(Job("henb-1"), Audit("opened"));
  ASSERT_TRUE(next.ok()) << next.error().ToString();
  EXPECT_GT(*next, *id);
  EXPECT_EQ(store_->ListJobs(false, 0, 10)->size(), 2u);
}

TEST_P(StoreTest, JobTransitionsAreCompareAndSet) {
  ASSERT_TRUE(store_);
  auto id = store_->CreateJob(Job("henb-1"), Audit("opened"));
  ASSERT_TRUE(id.ok());
  UpdateJob j = **store_->GetJob(*id);
  j.state = JobState::kOrdered;
  ASSERT_TRUE(*store_->TransitionJob(j, JobState::kOpened, Audit("ordered")));
  // A second writer still believing the job is "opened" loses, and writes no audit entry.
  UpdateJob stale = j;
  stale.state = JobState::kRefused;
  auto lost = store_->TransitionJob(stale, JobState::kOpened, Audit("refused"));
  ASSERT_TRUE(lost.ok());
  EXPECT_FALSE(*lost);
  EXPECT_EQ((**store_->GetJob(*id)).state, JobState::kOrdered);
  auto audit = store_->ListAudit(0, 100);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 2u);
  EXPECT_EQ((*audit)[0].event, "opened");
  EXPECT_EQ((*audit)[0].subject, "job:" + std::to_string(*id));
  EXPECT_EQ((*audit)[1].event, "ordered");
}

TEST_P(StoreTest, CampaignsKeepTheirMembersAndChangeStateByCompareAndSet) {
  ASSERT_TRUE(store_);
  Campaign c;
  c.release_id = "femto";
  c.version = "2.0";
  c.kind = JobKind::kReinstall;
  c.selection = "model=femto-a1";
  c.batch_size = 2;
  c.max_failure_percent = 25;
  c.rate = 5;
  c.detail = "created";
  c.created_at = c.updated_at = 100;
  const std::vector<CampaignMember> members = {
      {"henb-2", 0, 0}, {"henb-1", 0, 0}, {"henb-3", 1, 0}};
  auto id = store_->CreateCampaign(c, members, Audit("campaign created"));
  ASSERT_TRUE(id.ok()) << id.error().ToString();
  auto got = store_->GetCampaign(*id);
  ASSERT_TRUE(got.ok() && got->has_value());
  const Campaign& back = **got;
  EXPECT_EQ(back.kind, JobKind::kReinstall);
  EXPECT_EQ(back.selection, "model=femto-a1");
  EXPECT_EQ(back.batch_size, 2);
  EXPECT_EQ(back.max_failure_percent, 25);
  EXPECT_EQ(back.rate, 5);
  EXPECT_EQ(back.state, CampaignState::kRunning);
  EXPECT_FALSE(store_->GetCampaign(*id + 1)->has_value());

  auto listed = store_->CampaignMembers(*id);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 3u);  // by batch, then device
  EXPECT_EQ((*listed)[0].device_id, "henb-1");
  EXPECT_EQ((*listed)[2].device_id, "henb-3");
  EXPECT_EQ((*listed)[2].batch, 1);
  // A member's job is created with it, once: a second writer (another OAM)
  // gets a conflict, and no second job.
  auto job = store_->CreateJob(Job("henb-1"), Audit("opened"), *id);
  ASSERT_TRUE(job.ok()) << job.error().ToString();
  UpdateJob ended = **store_->GetJob(*job);
  ended.state = JobState::kCommitted;
  ended.open = false;
  ASSERT_TRUE(*store_->TransitionJob(ended, JobState::kOpened, std::nullopt));
  auto again = store_->CreateJob(Job("henb-1"), Audit("opened"), *id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kPolicyJobConflict);
  EXPECT_FALSE(store_->OpenJobFor("henb-1")->has_value());  // rolled back with it
  EXPECT_TRUE(*store_->RefuseCampaignMember(*id, "henb-2", "revoked device"));
  EXPECT_FALSE(*store_->RefuseCampaignMember(*id, "henb-2", "again"));     // the first stands
  EXPECT_FALSE(*store_->RefuseCampaignMember(*id, "henb-1", "too late"));  // it has a job
  EXPECT_FALSE(*store_->RefuseCampaignMember(*id, "ghost", "no such member"));
  EXPECT_EQ(store_->CreateJob(Job("henb-2"), Audit("opened"), *id).error().code(),
            ErrorCode::kPolicyJobConflict);
  listed = store_->CampaignMembers(*id);
  EXPECT_EQ((*listed)[0].job_id, *job);
  EXPECT_EQ((*listed)[1].note, "revoked device");
  EXPECT_EQ((*listed)[1].job_id, 0);

  // Compare and set: the first writer to pause wins; a stale one changes nothing.
  Campaign paused = back;
  paused.state = CampaignState::kPaused;
  paused.detail = "paused by test";
  paused.next_open_at = 1234;
  paused.ended_at_resume = 5;
  paused.failures_at_resume = 2;
  paused.updated_at = 300;
  ASSERT_TRUE(*store_->UpdateCampaign(paused, CampaignState::kRunning, Audit("paused")));
  const Campaign reread = **store_->GetCampaign(*id);
  EXPECT_EQ(reread.detail, "paused by test");
  EXPECT_EQ(reread.next_open_at, 1234);
  EXPECT_EQ(reread.ended_at_resume, 5);
  EXPECT_EQ(reread.failures_at_resume, 2);
  EXPECT_EQ(reread.created_at, 100);
  EXPECT_EQ(reread.updated_at, 300);
  EXPECT_EQ(reread.rate, 5);
  EXPECT_EQ(reread.max_failure_percent, 25);
  Campaign stale = back;
  stale.state = CampaignState::kAborted;
  EXPECT_FALSE(*store_->UpdateCampaign(stale, CampaignState::kRunning, Audit("aborted")));
  EXPECT_EQ((**store_->GetCampaign(*id)).state, CampaignState::kPaused);
  EXPECT_TRUE(store_->ListCampaigns(true, 0, 10)->empty());
  ASSERT_EQ(store_->ListCampaigns(false, 0, 10)->size(), 1u);
  EXPECT_TRUE(store_->ListCampaigns(false, *id, 10)->empty());
  auto audit = store_->ListAudit(0, 100);
  ASSERT_EQ(audit->size(), 3u);  // created, henb-1's job opened, paused
  EXPECT_EQ((*audit)[0].subject, "campaign:" + std::to_string(*id));
  EXPECT_EQ((*audit)[1].event, "opened");
  EXPECT_EQ((*audit)[2].event, "paused");
}

TEST_P(StoreTest, DueJobsComeOldestFirst) {
  ASSERT_TRUE(store_);
  for (int i = 0; i < 3; ++i) {
    UpdateJob j = Job("henb-" + std::to_string(i));
    j.next_action_at = 300 - 100 * i;  // 300, 200, 100
    ASSERT_TRUE(store_->CreateJob(j, Audit("opened")).ok());
  }
  auto due = store_->ListJobs(true, 250, 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 2u);
  EXPECT_EQ((*due)[0].device_id, "henb-2");
  EXPECT_EQ((*due)[1].device_id, "henb-1");
}

// The driver's claim: a due job is leased to the instance that claims it,
// passed over by the others until the lease runs out, and the lease
// survives the job's transitions.
TEST_P(StoreTest, ClaimedJobsAreLeasedToOneInstanceUntilTheLeaseRunsOut) {
  ASSERT_TRUE(store_);
  for (int i = 0; i < 3; ++i) {
    UpdateJob j = Job("henb-" + std::to_string(i));
    j.next_action_at = 300 - 100 * i;  // 300, 200, 100
    ASSERT_TRUE(store_->CreateJob(j, Audit("opened")).ok());
  }
  auto a = store_->ClaimDueJobs("oam-a", 250, 280, 10);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[0].device_id, "henb-2");  // oldest first
  EXPECT_EQ((*a)[1].device_id, "henb-1");
  EXPECT_EQ((*a)[0].lease_owner, "oam-a");
  EXPECT_EQ((*a)[0].lease_until, 280);
  EXPECT_TRUE(store_->ClaimDueJobs("oam-b", 250, 290, 10)->empty()) << "held by oam-a";
  EXPECT_EQ(store_->ClaimDueJobs("oam-a", 260, 290, 10)->size(), 2u) << "its own, renewed";
  EXPECT_TRUE(store_->ClaimDueJobs("oam-b", 289, 300, 10)->empty());

  // A transition leaves the lease as it is.
  UpdateJob moved = (*a)[0];
  moved.state = JobState::kOrdered;
  moved.lease_owner = "someone else";
  ASSERT_TRUE(*store_->TransitionJob(moved, JobState::kOpened, Audit("ordered")));
  EXPECT_EQ((**store_->GetJob(moved.id)).lease_owner, "oam-a");

  // Once the lease has run out, another instance takes the jobs over.
  auto b = store_->ClaimDueJobs("oam-b", 290, 320, 10);
  ASSERT_EQ(b->size(), 2u);
  EXPECT_EQ((**store_->GetJob((*b)[0].id)).lease_owner, "oam-b");
  EXPECT_EQ((**store_->GetJob((*b)[0].id)).lease_until, 320);
  EXPECT_EQ(store_->ClaimDueJobs("oam-b", 400, 420, 10)->size(), 3u) << "the third is due now";
}

// Two instances (two connections, two pools) claiming at once: every due
// job goes to exactly one of them.
TEST_P(StoreTest, TwoInstancesClaimingAtOnceNeverShareAJob) {
  ASSERT_TRUE(store_);
  auto other = Open();
  ASSERT_TRUE(other);
  constexpr int kJobs = 120;
  for (int i = 0; i < kJobs; ++i) {
    UpdateJob j = Job("henb-" + std::to_string(i));
    j.next_action_at = 100;
    ASSERT_TRUE(store_->CreateJob(j, Audit("opened")).ok());
  }
  std::vector<int64_t> got[2];
  // Each round claims under a name of its own, so that it never renews a
  // lease of an earlier round: every job is claimed once in all.
  auto claim = [&](Store& s, const std::string& owner, std::vector<int64_t>& out) {
    for (int round = 0;; ++round) {
      auto batch = s.ClaimDueJobs(owner + "-" + std::to_string(round), 200, 10'000, 7);
      ASSERT_TRUE(batch.ok()) << batch.error().ToString();
      if (batch->empty()) return;
      for (const auto& j : *batch) out.push_back(j.id);
    }
  };
  std::thread t([&] { claim(*other, "oam-b", got[1]); });
  claim(*store_, "oam-a", got[0]);
  t.join();
  std::vector<int64_t> all = got[0];
  all.insert(all.end(), got[1].begin(), got[1].end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kJobs)) << got[0].size() << " + " << got[1].size();
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a job claimed twice";
}

TEST_P(StoreTest, AJobIsClaimedByOneInstanceAtATime) {
  ASSERT_TRUE(store_);
  auto id = store_->CreateJob(Job("henb-1"), Audit("opened"));
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(*store_->ClaimJob(*id, "oam-a", 100, 130));
  EXPECT_FALSE(*store_->ClaimJob(*id, "oam-b", 120, 150));
  EXPECT_TRUE(*store_->ClaimJob(*id, "oam-a", 120, 150)) << "its own";
  EXPECT_EQ(store_->ClaimDueJobs("oam-b", 140, 170, 10)->size(), 0u);
  EXPECT_TRUE(*store_->ClaimJob(*id, "oam-b", 150, 180)) << "ran out";
  EXPECT_EQ((**store_->GetJob(*id)).lease_owner, "oam-b");
  EXPECT_FALSE(*store_->ClaimJob(*id + 1, "oam-b", 150, 180)) << "no such job";
}

TEST_P(StoreTest, GroupLabelsAreSetAuditedAndListedInPages) {
  ASSERT_TRUE(store_);
  for (const char* id : {"henb-3", "henb-1", "henb-2"})
    ASSERT_TRUE(store_->PutDevice(Device(id)).ok());
  for (const char* id : {"henb-3", "henb-1", "henb-2"}) {
    ASSERT_TRUE(store_->SetDeviceGroup("north", id, true, Audit("device added")).ok());
  }
  ASSERT_TRUE(store_->SetDeviceGroup("north", "henb-1", true, Audit("device added")).ok());
  ASSERT_TRUE(store_->SetDeviceGroup("south", "henb-2", true, Audit("device added")).ok());
  auto missing = store_->SetDeviceGroup("north", "ghost", true, Audit("device added"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(*store_->GroupMembers("north", "", 2), (std::vector<std::string>{"henb-1", "henb-2"}));
  EXPECT_EQ(*store_->GroupMembers("north", "henb-2", 2), (std::vector<std::string>{"henb-3"}));
  ASSERT_TRUE(store_->SetDeviceGroup("north", "henb-2", false, Audit("device removed")).ok());
  EXPECT_EQ(*store_->GroupMembers("north", "", 10), (std::vector<std::string>{"henb-1", "henb-3"}));
  EXPECT_EQ(*store_->GroupMembers("south", "", 10), (std::vector<std::string>{"henb-2"}));
  EXPECT_TRUE(store_->GroupMembers("west", "", 10)->empty());
  ASSERT_TRUE(store_->SetDeviceGroup("north", "henb-2", false, Audit("device removed")).ok());
  EXPECT_EQ(store_->ListAudit(0, 100)->size(), 5u)
      << "every change, but not the refused one nor the two that changed nothing";
}

TEST_P(StoreTest, RunningCampaignsAreLeasedToOneInstance) {
  ASSERT_TRUE(store_);
  Campaign c;
  c.release_id = "femto";
  c.version = "2.0";
  c.selection = "all";
  auto running = store_->CreateCampaign(c, {{"henb-1", 0, 0}}, Audit("campaign created"));
  c.state = CampaignState::kPaused;
  auto paused = store_->CreateCampaign(c, {{"henb-2", 0, 0}}, Audit("campaign created"));
  ASSERT_TRUE(running.ok() && paused.ok());
  auto a = store_->ClaimCampaigns("oam-a", 100, 130, 0, 10);
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  ASSERT_EQ(a->size(), 1u) << "only the running one";
  EXPECT_EQ((*a)[0].id, *running);
  EXPECT_TRUE(store_->ClaimCampaigns("oam-b", 110, 140, 0, 10)->empty());
  EXPECT_EQ(store_->ClaimCampaigns("oam-a", 120, 150, 0, 10)->size(), 1u);
  EXPECT_TRUE(store_->ClaimCampaigns("oam-a", 120, 150, *running, 10)->empty()) << "after its id";
  EXPECT_EQ(store_->ClaimCampaigns("oam-b", 150, 180, 0, 10)->size(), 1u) << "lease ran out";
  EXPECT_TRUE(store_->ClaimCampaigns("oam-a", 160, 190, 0, 10)->empty());
}

TEST_P(StoreTest, JobsAndAppraisalsAreListedInPages) {
  ASSERT_TRUE(store_);
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    auto id = store_->CreateJob(Job("henb-" + std::to_string(i)), Audit("opened"));
    ASSERT_TRUE(id.ok());
    ids.push_back(*id);
  }
  auto first = store_->ListJobs(false, 0, 2, 0);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].id, ids[0]);
  auto rest = store_->ListJobs(false, 0, 10, (*first)[1].id);
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_EQ((*rest)[0].id, ids[2]);
  EXPECT_TRUE(store_->ListJobs(false, 0, 10, ids[4])->empty());

  std::vector<int64_t> appraisals;
  for (int i = 0; i < 6; ++i) {
    appraisals.push_back(*store_->RecordAppraisal(
        {0, i % 2 == 0 ? "henb-even" : "henb-odd", "affirming", "jwt-" + std::to_string(i), i}));
  }
  auto page = store_->ListAppraisals("", 0, 4);
  ASSERT_TRUE(page.ok()) << page.error().ToString();
  ASSERT_EQ(page->size(), 4u);
  EXPECT_EQ((*page)[0].id, appraisals[0]);
  EXPECT_EQ((*page)[3].result, "jwt-3");
  auto tail = store_->ListAppraisals("", (*page)[3].id, 4);
  ASSERT_EQ(tail->size(), 2u);
  EXPECT_EQ((*tail)[1].id, appraisals[5]);
  auto odd = store_->ListAppraisals("henb-odd", 0, 10);
  ASSERT_EQ(odd->size(), 3u);
  for (const auto& a : *odd) EXPECT_EQ(a.device_id, "henb-odd");
  EXPECT_EQ(store_->ListAppraisals("henb-odd", appraisals[3], 10)->size(), 1u);
  EXPECT_TRUE(store_->ListAppraisals("nobody", 0, 10)->empty());
}

TEST_P(StoreTest, TheAuditLogIsAHashChainThatDetectsEdits) {
  ASSERT_TRUE(store_);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->AppendAudit(Audit("e" + std::to_string(i))).ok());
  auto n = VerifyAuditChain(*store_);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 5);
  auto entries = *store_->ListAudit(0, 10);
  for (size_t i = 1; i < entries.size(); ++i) EXPECT_EQ(entries[i].prev_hash, entries[i - 1].hash);
  // Recomputing an entry with a changed field gives another hash.
  AuditEntry edited = entries[2];
  edited.detail = "changed";
  EXPECT_NE(AuditHash(edited.prev_hash, edited), entries[2].hash);
}

// Two instances appending at once still form one chain.
TEST_P(StoreTest, TwoInstancesAppendToOneAuditChain) {
  ASSERT_TRUE(store_);
  auto other = Open();
  ASSERT_TRUE(other);
  auto worker = [](Store* s) {
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(s->AppendAudit(Audit("x")).ok());
  };
  std::thread t1(worker, store_.get()), t2(worker, other.get());
  t1.join();
  t2.join();
  auto n = VerifyAuditChain(*store_);
  ASSERT_TRUE(n.ok()) << n.error().ToString();
  EXPECT_EQ(*n, 100);
}

TEST_P(StoreTest, ListsDevicesInPages) {
  ASSERT_TRUE(store_);
  for (const char* id : {"c", "a", "b"}) ASSERT_TRUE(store_->PutDevice(Device(id)).ok());
  auto first = store_->ListDevices("", 2);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].device_id, "a");
  EXPECT_EQ((*first)[1].hardware_model, "femto-a1");
  auto rest = store_->ListDevices((*first)[1].device_id, 2);
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].device_id, "c");
}

WatchdogRecord Watchdog(const std::string& device_id) {
  WatchdogRecord w;
  w.device_id = device_id;
  w.mode = "minimal";
  w.reason = "quote refused";
  w.deadline = 1'800'003'600;
  w.last_ticket = "defer appraisal 42";
  w.last_ticket_at = 1'800'000'000;
  w.updated_at = 1'800'000'001;
  return w;
}

// Every field, for EXPECT_EQ (which prints both sides).
auto Fields(const WatchdogRecord& w) {
  return std::tie(w.device_id, w.mode, w.reason, w.deadline, w.last_ticket, w.last_ticket_at,
                  w.updated_at);
}
auto Fields(const ModelPolicy& p) {
  return std::tie(p.hardware_model, p.ticket_period, p.recovery_release_id, p.recovery_version,
                  p.updated_at);
}

TEST_P(StoreTest, AWatchdogRowIsReplacedWholeWithItsAuditEntry) {
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  EXPECT_FALSE(store_->GetWatchdog("henb-1")->has_value());
  const WatchdogRecord first = Watchdog("henb-1");
  ASSERT_TRUE(store_->PutWatchdog(first, Audit("ticket issued")).ok());
  auto got = store_->GetWatchdog("henb-1");
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(Fields(**got), Fields(first));
  // Replaced whole: fields emptied or zeroed are stored so. No audit entry.
  WatchdogRecord second = Watchdog("henb-1");
  second.mode = "recovery";
  second.reason = "";
  second.deadline = 0;
  second.last_ticket = "recover: femto 1.0";
  second.last_ticket_at = 1'800'007'200;
  second.updated_at = 1'800'007'201;
  ASSERT_TRUE(store_->PutWatchdog(second, std::nullopt).ok());
  got = store_->GetWatchdog("henb-1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(Fields(**got), Fields(second));
  // A device that is not enrolled: refused, nothing written.
  auto ghost = store_->PutWatchdog(Watchdog("ghost"), Audit("ticket issued"));
  ASSERT_FALSE(ghost.ok());
  EXPECT_EQ(ghost.error().code(), ErrorCode::kNotFound);
  EXPECT_FALSE(store_->GetWatchdog("ghost")->has_value());
  auto entries = *store_->ListAudit(0, 10);
  ASSERT_EQ(entries.size(), 1u) << "the first put's entry only";
  EXPECT_EQ(entries[0].event, "ticket issued");
  EXPECT_EQ(*VerifyAuditChain(*store_), 1);
  // Another instance reads what this one wrote.
  auto other = Open();
  ASSERT_TRUE(other);
  got = other->GetWatchdog("henb-1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(Fields(**got), Fields(second));
}

// The row and its audit entry commit together: when the entry cannot be
// appended (a trigger refuses every insert into the audit log), the row is
// not written either; without an entry, the same write goes through.
TEST_P(StoreTest, AWatchdogRowOrModelPolicyWhoseAuditEntryFailsIsNotWritten) {
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  ASSERT_TRUE(store_->PutWatchdog(Watchdog("henb-1"), Audit("ticket issued")).ok());
  const testing::CommandResult refused =
      GetParam() == "postgres"
          ? testing::Run("psql '" + location_ +
                         "' -v ON_ERROR_STOP=1 -c \"CREATE FUNCTION refuse_audit() RETURNS "
                         "trigger LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''refused''; END'; "
                         "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit FOR EACH ROW "
                         "EXECUTE PROCEDURE refuse_audit();\"")
          : testing::Run("sqlite3 '" + location_ +
                         "' \"CREATE TRIGGER refuse_audit BEFORE INSERT ON audit "
                         "BEGIN SELECT RAISE(ABORT, 'refused'); END;\"");
  ASSERT_EQ(refused.exit_code, 0) << refused.err;
  WatchdogRecord changed = Watchdog("henb-1");
  changed.mode = "recovery";
  EXPECT_FALSE(store_->PutWatchdog(changed, Audit("recovery entered")).ok());
  EXPECT_EQ((*store_->GetWatchdog("henb-1"))->mode, "minimal");
  ASSERT_TRUE(store_->PutWatchdog(changed, std::nullopt).ok());
  EXPECT_EQ((*store_->GetWatchdog("henb-1"))->mode, "recovery");
  EXPECT_FALSE(store_->PutModelPolicy({"femto-a1", 600, "", "", 5}, Audit("policy set")).ok());
  EXPECT_FALSE(store_->GetModelPolicy("femto-a1")->has_value());
  EXPECT_EQ(store_->ListAudit(0, 10)->size(), 1u);
}

TEST_P(StoreTest, WatchdogRowsAreListedInPagesByDeviceId) {
  ASSERT_TRUE(store_);
  for (const char* id : {"henb-3", "henb-1", "henb-4", "henb-2"})
    ASSERT_TRUE(store_->PutDevice(Device(id)).ok());
  for (const char* id : {"henb-3", "henb-1", "henb-2"}) {  // henb-4 has no row
    WatchdogRecord w = Watchdog(id);
    w.last_ticket = std::string("ticket of ") + id;
    ASSERT_TRUE(store_->PutWatchdog(w, std::nullopt).ok());
  }
  auto ids = [](const Result<std::vector<WatchdogRecord>>& rows) {
    std::vector<std::string> out;
    EXPECT_TRUE(rows.ok()) << rows.error().ToString();
    if (rows.ok()) {
      for (const auto& w : *rows) out.push_back(w.device_id);
    }
    return out;
  };
  auto first = store_->ListWatchdogs("", 2);
  EXPECT_EQ(ids(first), (std::vector<std::string>{"henb-1", "henb-2"}));
  ASSERT_TRUE(first.ok() && first->size() == 2);
  WatchdogRecord expected = Watchdog("henb-2");
  expected.last_ticket = "ticket of henb-2";
  EXPECT_EQ(Fields((*first)[1]), Fields(expected));
  EXPECT_EQ(ids(store_->ListWatchdogs("henb-2", 2)), (std::vector<std::string>{"henb-3"}));
  EXPECT_TRUE(ids(store_->ListWatchdogs("henb-3", 2)).empty());
  EXPECT_EQ(ids(store_->ListWatchdogs("henb-15", 10)),
            (std::vector<std::string>{"henb-2", "henb-3"}))
      << "after an id that has no row";
  EXPECT_EQ(ids(store_->ListWatchdogs("", 10)),
            (std::vector<std::string>{"henb-1", "henb-2", "henb-3"}));
}

TEST_P(StoreTest, ModelPoliciesAreReplacedWholeWithTheirAuditEntry) {
  ASSERT_TRUE(store_);
  EXPECT_FALSE(store_->GetModelPolicy("femto-a1")->has_value());
  const ModelPolicy a1{"femto-a1", 3600, "femto-recovery", "1.2", 100};
  const ModelPolicy b2{"femto-b2", 0, "", "", 101};
  ASSERT_TRUE(store_->PutModelPolicy(a1, Audit("policy set")).ok());
  ASSERT_TRUE(store_->PutModelPolicy(b2, Audit("policy set")).ok());
  auto got = store_->GetModelPolicy("femto-a1");
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(Fields(**got), Fields(a1));
  // Replaced whole: the recovery release goes back to the device's own.
  const ModelPolicy a1_again{"femto-a1", 7200, "", "", 200};
  ASSERT_TRUE(store_->PutModelPolicy(a1_again, Audit("policy changed")).ok());
  got = store_->GetModelPolicy("femto-a1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(Fields(**got), Fields(a1_again));
  got = store_->GetModelPolicy("femto-b2");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(Fields(**got), Fields(b2));
  got = store_->GetModelPolicy("femto-z9");
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  EXPECT_FALSE(got->has_value());
  auto entries = *store_->ListAudit(0, 10);
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[2].event, "policy changed");
  EXPECT_EQ(*VerifyAuditChain(*store_), 3);
}

TEST(SqliteStore, ReportsAnUnusablePath) {
  auto s = OpenSqliteStore("/nonexistent/dir/pve.db");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kStore);
}

TEST(PostgresStore, ReportsAnUnreachableServer) {
  auto s = OpenPostgresStore("host=127.0.0.1 port=1 user=henb dbname=henb connect_timeout=2");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kStore);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& p) { return p.param; });

// A database of schema version 4 (the device's TPM clock in the devices
// table, an index over every appraisal for the latest, jobs without a kind)
// written by the sqlite3 tool, then opened: each device keeps its clock and
// its latest result, the moved columns and the index are gone, and the jobs
// made before are updates.
TEST(SqliteStoreMigration, Version4KeepsClocksLatestResultsAndSpentNonces) {
  testing::TempDir dir;
  const std::string path = dir.File("v4.db");
  const std::string v4 =
      "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY);"
      "INSERT INTO schema_migrations VALUES (1), (2), (3), (4);"
      "CREATE TABLE devices (device_id TEXT PRIMARY KEY, hardware_model TEXT NOT NULL,"
      " ek_public BLOB NOT NULL, ek_certificate BLOB NOT NULL, ak_public BLOB NOT NULL,"
      " release_version TEXT NOT NULL, state TEXT NOT NULL, reset_count INTEGER NOT NULL,"
      " clock INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
      " release_id TEXT NOT NULL DEFAULT '', agent_address TEXT NOT NULL DEFAULT '');"
      "CREATE TABLE appraisals (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL,"
      " status TEXT NOT NULL, result TEXT NOT NULL, created_at INTEGER NOT NULL);"
      "CREATE INDEX appraisals_device ON appraisals (device_id, id);"
      "CREATE TABLE spent_nonces (nonce BLOB PRIMARY KEY, expires_at INTEGER NOT NULL);"
      "CREATE INDEX spent_nonces_expiry ON spent_nonces (expires_at);"
      "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, device_id TEXT NOT NULL,"
      " release_id TEXT NOT NULL, version TEXT NOT NULL, from_release_id TEXT NOT NULL,"
      " from_version TEXT NOT NULL, state TEXT NOT NULL, open INTEGER NOT NULL,"
      " expected_tim BLOB NOT NULL, order_nonce BLOB NOT NULL, order_token TEXT NOT NULL,"
      " deadline INTEGER NOT NULL, attempts INTEGER NOT NULL, next_action_at INTEGER NOT NULL,"
      " report TEXT NOT NULL, detail TEXT NOT NULL, created_at INTEGER NOT NULL,"
      " updated_at INTEGER NOT NULL);"
      "INSERT INTO jobs (device_id, release_id, version, from_release_id, from_version, state,"
      " open, expected_tim, order_nonce, order_token, deadline, attempts, next_action_at, report,"
      " detail, created_at, updated_at) VALUES ('henb-1', 'femto', '2.0', 'femto', '1.0',"
      " 'committed', 0, x'00', x'00', '', 0, 0, 0, '', 'done', 1, 2);"
      "INSERT INTO spent_nonces VALUES (x'a1a2a3a4', 4000000000), (x'b1b2', 10), (x'c1', 20);"
      "INSERT INTO devices VALUES ('henb-1', 'femto-a1', x'01', x'3000', x'07', '1.0',"
      " 'enrolled', 3, 12345, 100, 'femto', ''),"
      " ('henb-2', 'femto-a1', x'01', x'3000', x'07', '1.0', 'enrolled', 1, 7, 100, 'femto', ''),"
      " ('henb-3', 'femto-a1', x'01', x'3000', x'07', '1.0', 'enrolled', 0, 0, 100, 'femto', '');"
      "INSERT INTO appraisals (device_id, status, result, created_at) VALUES"
      " ('henb-1', 'affirming', 'jwt-a', 1), ('henb-2', 'warning', 'jwt-b', 2),"
      " ('henb-1', 'contraindicated', 'jwt-c', 3), ('gone', 'affirming', 'jwt-d', 4);";
  const testing::CommandResult made = testing::Run("sqlite3 '" + path + "' \"" + v4 + "\"");
  ASSERT_EQ(made.exit_code, 0) << made.err;

  auto store = OpenSqliteStore(path);
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  auto one = (*store)->GetDevice("henb-1");
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->reset_count, 3u);
  EXPECT_EQ((*one)->clock, 12345u);
  EXPECT_EQ((*one)->release_id, "femto");
  auto two = (*store)->GetDevice("henb-2");
  ASSERT_TRUE(two.ok() && two->has_value());
  EXPECT_EQ((*two)->clock, 7u);
  auto latest = [&](const std::string& id) {
    auto r = (*store)->LatestAppraisal(id);
    EXPECT_TRUE(r.ok());
    return r.ok() && r->has_value() ? (*r)->result : std::string("none");
  };
  EXPECT_EQ(latest("henb-1"), "jwt-c");
  EXPECT_EQ(latest("henb-2"), "jwt-b");
  EXPECT_EQ(latest("henb-3"), "none");
  EXPECT_EQ(latest("gone"), "jwt-d");  // a result outlives its device's record
  auto job = (*store)->GetJob(1);
  ASSERT_TRUE(job.ok() && job->has_value());
  EXPECT_EQ((*job)->kind, JobKind::kUpdate);
  EXPECT_EQ((*job)->state, JobState::kCommitted);

  // Appraising after the upgrade moves the clock on and becomes the latest.
  AppraisalRecord next{0, "henb-1", "affirming", "jwt-e", 5};
  next.advance_clock = true;
  next.reset_count = 3;
  next.clock = 20000;
  ASSERT_TRUE((*store)->RecordAppraisal(next).ok());
  EXPECT_EQ((*(*store)->GetDevice("henb-1"))->clock, 20000u);
  EXPECT_EQ(latest("henb-1"), "jwt-e");

  // Nonces spent before the upgrade stay spent, and expire as before.
  AppraisalRecord replay{0, "henb-2", "affirming", "jwt-f", 6};
  replay.spent_nonce = {0xa1, 0xa2, 0xa3, 0xa4};
  replay.nonce_expires_at = 4000000000;
  auto refused = (*store)->RecordAppraisal(replay);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kPolicyNonce);
  auto purged = (*store)->PurgeSpentNonces(100);
  ASSERT_TRUE(purged.ok()) << purged.error().ToString();
  EXPECT_EQ(*purged, 2);
  store->reset();
  const testing::CommandResult schema = testing::Run("sqlite3 '" + path + "' .schema");
  ASSERT_EQ(schema.exit_code, 0) << schema.err;
  EXPECT_EQ(schema.out.find("appraisals_device"), std::string::npos) << schema.out;
  EXPECT_EQ(schema.out.find("clock INTEGER NOT NULL, updated_at"), std::string::npos) << schema.out;
  EXPECT_EQ(schema.out.find("spent_nonces_expiry"), std::string::npos) << schema.out;
  EXPECT_NE(schema.out.find("PRIMARY KEY (expires_at, nonce)) WITHOUT ROWID"), std::string::npos)
      << schema.out;
}

}  // namespace
}  // namespace henbtrust
