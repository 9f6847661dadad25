// Threads for work that may block (a call to another service, a store
// round trip), so that an HTTP server's connection threads never wait: an
// AsyncHttpHandler hands such a request to a pool and answers from there.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

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
  void Post(std::function<void()> work);

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool closing_ = false;                     // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace henbtrust
