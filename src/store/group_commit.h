// Group commit of appraisal records, for the stores that write them in
// batches (SQLite and PostgreSQL): records queue up, one writer thread
// takes up to Limits::max_batch of them at a time and hands them to the
// store's commit, which writes them in one transaction, and each caller's
// `done` gets its own record's result. A busy PVE thus pays one commit (one
// fsync, on either backend) for many appraisals instead of one each.
//
// While records are being made (appraisals under way, announced by
// UnderWay and Ended), the writer waits for them, up to Limits::gather_window or
// until Limits::gather_target are queued, so that each commit carries more
// of them. It waits for nothing else: a record that arrives when no other
// is under way is committed at once, however many came before it (a
// caller that waits for its own record adds no other meanwhile).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

#include "henbtrust/core/thread_annotations.h"
#include "henbtrust/store/store.h"

namespace henbtrust {

struct PendingAppraisal {
  AppraisalRecord record;
  Store::AppraisalDone done;
};

class GroupCommit {
 public:
  // One result per record, in order; a record that could not be written
  // gets an error (a spent nonce alone does not undo the others).
  using CommitFn =
      std::function<std::vector<Result<int64_t>>(const std::vector<PendingAppraisal>& batch)>;
  struct Limits {
    // Records in one transaction at most: a bound on how long the first of
    // them waits, and on the transaction's size.
    size_t max_batch = 256;
    size_t gather_target = 64;
    std::chrono::milliseconds gather_window{2};
  };

  explicit GroupCommit(CommitFn commit) : GroupCommit(std::move(commit), Limits{}) {}
  GroupCommit(CommitFn commit, Limits limits);
  // Close().
  ~GroupCommit();
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Queues the record; `done` runs on the writer thread once it is
  // committed or refused. The writer starts with the first record. After
  // Close(), `done` gets a kStore error at once and nothing is written.
  void Add(AppraisalRecord record, Store::AppraisalDone done) EXCLUDES(mu_);

  // A record is being made: the writer gathers only while one is. Each
  // UnderWay is ended by one Ended, once its record is added (or will not
  // come).
  void UnderWay() EXCLUDES(mu_);
  void Ended() EXCLUDES(mu_);

  // Commits what is queued, then stops the writer. The store calls it
  // before it closes what `commit` writes to.
  void Close() EXCLUDES(mu_);

 private:
  // The writer thread: runs until Close, and leaves nothing queued.
  void Run() EXCLUDES(mu_);

  const CommitFn commit_;
  const Limits limits_;
  Mutex mu_;
  std::condition_variable cv_;
  std::vector<PendingAppraisal> queue_ GUARDED_BY(mu_);
  bool closing_ GUARDED_BY(mu_) = false;
  bool gathering_ GUARDED_BY(mu_) = false;
  size_t under_way_ GUARDED_BY(mu_) = 0;
  std::thread writer_ GUARDED_BY(mu_);  // started by the first record
};

}  // namespace henbtrust
