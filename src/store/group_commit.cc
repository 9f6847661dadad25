#include "store/group_commit.h"

#include <algorithm>
#include <iterator>

namespace henbtrust {

GroupCommit::GroupCommit(CommitFn commit, Limits limits)
    : commit_(std::move(commit)), limits_(limits) {}

GroupCommit::~GroupCommit() { Close(); }

void GroupCommit::Add(AppraisalRecord record, Store::AppraisalDone done) {
  bool wake = false;
  {
    MutexLock lock(mu_);
    if (closing_) {
      lock.Unlock();
      done(Error(ErrorCode::kStore, "the store is closing"));
      return;
    }
    if (!writer_.joinable()) writer_ = std::thread([this] { Run(); });
    queue_.push_back({std::move(record), std::move(done)});
    // While the writer gathers, it is woken by a full batch, or when no
    // record is under way any more (Ended).
    wake = !gathering_ || queue_.size() >= limits_.gather_target;
  }
  if (wake) cv_.notify_one();
}

void GroupCommit::UnderWay() {
  MutexLock lock(mu_);
  ++under_way_;
}

void GroupCommit::Ended() {
  bool wake = false;
  {
    MutexLock lock(mu_);
    if (under_way_ > 0) --under_way_;
    wake = gathering_ && under_way_ == 0;
  }
  if (wake) cv_.notify_one();
}

void GroupCommit::Close() {
  std::thread writer;
  {
    MutexLock lock(mu_);
    closing_ = true;
    writer = std::move(writer_);
  }
  cv_.notify_one();
  if (writer.joinable()) writer.join();
}

void GroupCommit::Run() {
  std::vector<PendingAppraisal> batch;
  MutexLock lock(mu_);
  for (;;) {
    while (!closing_ && queue_.empty()) lock.Wait(cv_);
    if (queue_.empty()) return;
    // Gather only while more records are being made.
    auto more = [this]() REQUIRES(mu_) {
      return !closing_ && under_way_ > 0 && queue_.size() < limits_.gather_target;
    };
    if (more()) {
      gathering_ = true;
      const auto deadline = std::chrono::steady_clock::now() + limits_.gather_window;
      while (more() && lock.WaitUntil(cv_, deadline)) {
      }
      gathering_ = false;
    }
    const auto n = static_cast<std::ptrdiff_t>(std::min(queue_.size(), limits_.max_batch));
    batch.assign(std::make_move_iterator(queue_.begin()),
                 std::make_move_iterator(queue_.begin() + n));
    queue_.erase(queue_.begin(), queue_.begin() + n);
    lock.Unlock();
    std::vector<Result<int64_t>> results = commit_(batch);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].done(i < results.size()
                        ? std::move(results[i])
                        : Result<int64_t>(Error(ErrorCode::kInternal, "no result for a record")));
    }
    batch.clear();
    lock.Lock();
  }
}

}  // namespace henbtrust
