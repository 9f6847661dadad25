// The group commit both Store backends share (src/store/group_commit.h).
#include "store/group_commit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace henbtrust {
namespace {

AppraisalRecord Record(int i) {
  return AppraisalRecord{0, "henb-" + std::to_string(i), "affirming", "jwt", 10};
}

// Records queued while a commit runs go together into the next one; every
// record is answered once, with its own result, in order.
TEST(GroupCommit, RecordsQueuedDuringACommitShareTheNextOne) {
  std::mutex mu;
  std::vector<size_t> batch_sizes;
  std::promise<void> entered;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> next_id{0};
  GroupCommit commit([&](const std::vector<PendingAppraisal>& batch) {
    {
      std::lock_guard<std::mutex> lock(mu);
      batch_sizes.push_back(batch.size());
      if (batch_sizes.size() == 1) {  // hold the first commit
        entered.set_value();
        released.wait();
      }
    }
    std::vector<Result<int64_t>> out;
    for (const PendingAppraisal& p : batch) {
      if (p.record.device_id == "henb-7") {
        out.emplace_back(Error(ErrorCode::kPolicyNonce, "nonce already used"));
      } else {
        out.emplace_back(int64_t{++next_id});
      }
    }
    return out;
  });
  constexpr int kRecords = 50;
  std::vector<std::promise<Result<int64_t>>> answers(kRecords);
  std::vector<std::atomic<int>> calls(kRecords);
  auto add = [&](int i) {
    commit.Add(Record(i), [&, i](Result<int64_t> r) {
      ++calls[static_cast<size_t>(i)];
      answers[static_cast<size_t>(i)].set_value(std::move(r));
    });
  };
  add(0);
  entered.get_future().wait();
  for (int i = 1; i < kRecords; ++i) add(i);
  release.set_value();
  int64_t last = 0;
  for (int i = 0; i < kRecords; ++i) {
    Result<int64_t> r = answers[static_cast<size_t>(i)].get_future().get();
    if (i == 7) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.error().code(), ErrorCode::kPolicyNonce);
      continue;
    }
    ASSERT_TRUE(r.ok()) << i;
    EXPECT_GT(*r, last);
    last = *r;
  }
  commit.Close();
  for (int i = 0; i < kRecords; ++i) EXPECT_EQ(calls[static_cast<size_t>(i)].load(), 1) << i;
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(batch_sizes.size(), 2u);
  EXPECT_EQ(batch_sizes[0], 1u);  // the first record, committed at once
  EXPECT_GT(batch_sizes[1], 1u);  // the rest, gathered while it ran
}

// The writer waits for records under way, and for nothing else: two
// callers that each wait for their own record (as the fleet simulator's
// device threads do) are never held for the gathering window, which is a
// minute here so that any wait for it shows.
TEST(GroupCommit, GathersOnlyWhileRecordsAreUnderWay) {
  std::mutex mu;
  std::vector<size_t> batch_sizes;
  GroupCommit commit(
      [&](const std::vector<PendingAppraisal>& batch) {
        std::lock_guard<std::mutex> lock(mu);
        batch_sizes.push_back(batch.size());
        return std::vector<Result<int64_t>>(batch.size(), int64_t{1});
      },
      GroupCommit::Limits{256, 64, std::chrono::minutes(1)});
  auto add = [&](int i) {
    auto answer = std::make_shared<std::promise<void>>();
    commit.Add(Record(i), [answer](const Result<int64_t>&) { answer->set_value(); });
    return answer->get_future();
  };
  auto done = [](std::future<void>& f) {
    return f.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  };
  // Two under way: the first to come waits for the second, and both
  // commit together once neither is under way.
  commit.UnderWay();
  commit.UnderWay();
  auto first = add(1);
  commit.Ended();
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  auto second = add(2);
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  commit.Ended();
  ASSERT_TRUE(done(first));
  ASSERT_TRUE(done(second));
  // Rounds of two callers, each waiting for its own record: no record is
  // under way while one waits, so each goes at once.
  for (int round = 0; round < 20; ++round) {
    std::thread other([&] {
      auto f = add(100 + round);
      EXPECT_TRUE(done(f));
    });
    auto mine = add(200 + round);
    EXPECT_TRUE(done(mine));
    other.join();
  }
  // One under way that never comes: ended, and what waited for it goes.
  commit.UnderWay();
  commit.UnderWay();
  auto third = add(3);
  commit.Ended();
  EXPECT_EQ(third.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  commit.Ended();
  ASSERT_TRUE(done(third));
  commit.Close();
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_GE(batch_sizes.size(), 3u);
  EXPECT_EQ(batch_sizes.front(), 2u);
  EXPECT_EQ(batch_sizes.back(), 1u);
}

// Close commits what is queued; a record after Close is refused at once,
// and nothing more is committed.
TEST(GroupCommit, CloseDrainsTheQueueAndRefusesWhatComesAfter) {
  std::atomic<int> committed{0};
  GroupCommit commit([&](const std::vector<PendingAppraisal>& batch) {
    committed += static_cast<int>(batch.size());
    return std::vector<Result<int64_t>>(batch.size(), int64_t{1});
  });
  std::atomic<int> ok{0};
  for (int i = 0; i < 20; ++i) {
    commit.Add(Record(i), [&](const Result<int64_t>& r) {
      if (r.ok()) ++ok;
    });
  }
  commit.Close();
  EXPECT_EQ(committed.load(), 20);
  EXPECT_EQ(ok.load(), 20);
  std::optional<Result<int64_t>> late;
  commit.Add(Record(99), [&](Result<int64_t> r) { late = std::move(r); });
  ASSERT_TRUE(late.has_value());  // answered before Add returned
  ASSERT_FALSE(late->ok());
  EXPECT_EQ(late->error().code(), ErrorCode::kStore);
  EXPECT_EQ(committed.load(), 20);
  commit.Close();  // twice is harmless
}

}  // namespace
}  // namespace henbtrust
