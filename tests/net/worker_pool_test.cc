#include "henbtrust/net/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

namespace henbtrust {
namespace {

using namespace std::chrono_literals;

// Work that blocks holds up only its own thread: with two threads, two
// pieces of work that each wait for the other both finish.
TEST(WorkerPool, RunsWorkConcurrentlyOnItsThreads) {
  std::atomic<int> arrived{0};
  std::atomic<int> done{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  {
    WorkerPool pool(2);
    for (int i = 0; i < 2; ++i) {
      pool.Post([&] {
        {
          std::lock_guard<std::mutex> lock(mu);
          ids.insert(std::this_thread::get_id());
        }
        ++arrived;
        const auto give_up = std::chrono::steady_clock::now() + 5s;
        while (arrived < 2 && std::chrono::steady_clock::now() < give_up)
          std::this_thread::sleep_for(1ms);
        if (arrived == 2) ++done;
      });
    }
  }
  EXPECT_EQ(done, 2);
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
}

// The destructor runs what is queued, and work that throws does not stop
// its thread.
TEST(WorkerPool, FinishesQueuedWorkAndOutlivesAThrow) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(1);
    pool.Post([] { throw std::runtime_error("dropped"); });
    for (int i = 0; i < 100; ++i) pool.Post([&ran] { ++ran; });
  }
  EXPECT_EQ(ran, 100);
}

}  // namespace
}  // namespace henbtrust
