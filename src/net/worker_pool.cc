#include "henbtrust/net/worker_pool.h"

#include <algorithm>

namespace henbtrust {

WorkerPool::WorkerPool(int threads) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() {
  {
    MutexLock lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::Post(std::function<void()> work) {
  {
    MutexLock lock(mu_);
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
}

void WorkerPool::Run() {
  MutexLock lock(mu_);
  for (;;) {
    while (!closing_ && queue_.empty()) lock.Wait(cv_);
    if (queue_.empty()) return;  // closing, and nothing left
    std::function<void()> work = std::move(queue_.front());
    queue_.pop_front();
    lock.Unlock();
    try {
      work();
    } catch (...) {  // NOLINT(bugprone-empty-catch): documented: work that throws is dropped
    }
    work = nullptr;  // what it holds goes now, not under the lock
    lock.Lock();
  }
}

}  // namespace henbtrust
