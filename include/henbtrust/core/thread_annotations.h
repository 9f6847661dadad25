// Lock annotations that clang's -Wthread-safety checks (scripts/tidy.sh runs
// it on every source file); under other compilers they expand to nothing.
//
//   class Queue {
//     void Push(int v) EXCLUDES(mu_) { MutexLock lock(mu_); items_.push_back(v); }
//     void PushLocked(int v) REQUIRES(mu_) { items_.push_back(v); }
//     Mutex mu_;
//     std::vector<int> items_ GUARDED_BY(mu_);
//   };
//
// std::mutex carries no annotations in libstdc++, so guarded data is locked
// through the Mutex and MutexLock below, which do.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define HENB_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define HENB_THREAD_ANNOTATION(x)
#endif

// A type that is a lock ("mutex" in diagnostics).
#define CAPABILITY(x) HENB_THREAD_ANNOTATION(capability(x))
// An RAII type that holds a lock for its lifetime.
#define SCOPED_CAPABILITY HENB_THREAD_ANNOTATION(scoped_lockable)
// The member may be read or written only while holding `x`.
#define GUARDED_BY(x) HENB_THREAD_ANNOTATION(guarded_by(x))
// What the pointer points to may be used only while holding `x`.
#define PT_GUARDED_BY(x) HENB_THREAD_ANNOTATION(pt_guarded_by(x))
// The caller must hold the lock(s).
#define REQUIRES(...) HENB_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
// The caller must not hold the lock(s): the function takes them itself.
#define EXCLUDES(...) HENB_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
// The function takes the lock(s) and returns holding them.
#define ACQUIRE(...) HENB_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
// The function releases the lock(s) the caller holds.
#define RELEASE(...) HENB_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
// The function returns a reference to the lock.
#define RETURN_CAPABILITY(x) HENB_THREAD_ANNOTATION(lock_returned(x))
// Turns the analysis off for one function; say why beside it.
#define NO_THREAD_SAFETY_ANALYSIS HENB_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace henbtrust {

// std::mutex with annotations. Not recursive.
class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

  // For std::condition_variable: a std::unique_lock over the same mutex,
  // adopted from a MutexLock (see MutexLock::Native).
  std::mutex& Native() RETURN_CAPABILITY(this) { return mu_; }

 private:
  std::mutex mu_;
};

// Holds a Mutex from construction to destruction; Unlock()/Lock() let a
// caller drop it for a while (the analysis tracks both).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : lock_(mu.Native()) {}
  ~MutexLock() RELEASE() = default;
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void Unlock() RELEASE() { lock_.unlock(); }
  void Lock() ACQUIRE() { lock_.lock(); }

  // One wait on `cv`: releases the lock, sleeps until notified (or woken
  // spuriously), takes the lock again. Callers loop on their condition in
  // their own body, where the analysis knows the lock is held:
  //   while (queue_.empty()) lock.Wait(cv_);
  void Wait(std::condition_variable& cv) { cv.wait(lock_); }
  // As Wait, returning false once `deadline` has passed.
  template <typename Clock, typename Duration>
  bool WaitUntil(std::condition_variable& cv, std::chrono::time_point<Clock, Duration> deadline) {
    return cv.wait_until(lock_, deadline) == std::cv_status::no_timeout;
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace henbtrust
