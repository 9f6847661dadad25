// One test suite for every Store backend.
#include "henbtrust/store/store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/postgres.h"
#include "support/test_support.h"

namespace henbtrust {
namespace {

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
    auto s = GetParam() == "postgres" ? OpenPostgresStore(location_) : OpenSqliteStore(location_);
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

TEST_P(StoreTest, PendingEnrollmentsAreTakenOnceAndExpire) {
  ASSERT_TRUE(store_);
  const int64_t now = 1000;
  ASSERT_TRUE(store_->PutEnrollment({"henb-1", Bytes(32, 1), R"({"a":1})", now + 60}).ok());
  // A new challenge replaces the old one.
  ASSERT_TRUE(store_->PutEnrollment({"henb-1", Bytes(32, 2), R"({"a":2})", now + 60}).ok());
  ASSERT_TRUE(store_->PutEnrollment({"henb-2", Bytes(32, 3), "{}", now - 1}).ok());
  auto taken = store_->TakeEnrollment("henb-1", now);
  ASSERT_TRUE(taken.ok() && taken->has_value());
  EXPECT_EQ((*taken)->secret_digest, Bytes(32, 2));
  EXPECT_EQ((*taken)->request, R"({"a":2})");
  EXPECT_FALSE(store_->TakeEnrollment("henb-1", now)->has_value());  // one attempt
  EXPECT_FALSE(store_->TakeEnrollment("henb-2", now)->has_value());  // expired
  EXPECT_FALSE(store_->TakeEnrollment("henb-3", now)->has_value());  // never
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

TEST_P(StoreTest, StateSurvivesReopeningAndMigrationsRunOnce) {
  ASSERT_TRUE(store_);
  ASSERT_TRUE(store_->PutDevice(Device("henb-1")).ok());
  store_.reset();
  store_ = Open();
  ASSERT_TRUE(store_);
  EXPECT_TRUE(store_->GetDevice("henb-1")->has_value());
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

}  // namespace
}  // namespace henbtrust
