// Threads for work that may block (a call to another service, a store
// round trip), so that an HTTP server's connection threads never wait: an
// AsyncHttpHandler hands such a request to a pool and answers from there.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "henbtrust/core/thread_annotations.h"

namespace henbtrust {

class WorkerPool {
 public:
  explicit WorkerPool(int threads);
  // Runs everything posted before it, then joins the threads.
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `work` on one of the pool's threads, in the order posted. Work that
  // throws is dropped; the thread goes on.
  void Post(std::function<void()> work) EXCLUDES(mu_);

 private:
  void Run() EXCLUDES(mu_);

  Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  bool closing_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace henbtrust
