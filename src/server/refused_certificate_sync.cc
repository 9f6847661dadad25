#include "henbtrust/server/refused_certificate_sync.h"

#include <condition_variable>
#include <iostream>
#include <string>
#include <thread>

#include "henbtrust/core/thread_annotations.h"

namespace henbtrust {

struct RefusedCertificateSync::Impl {
  Impl(Store& s, std::shared_ptr<RefusedCertificates> r, std::chrono::milliseconds p)
      : store(s), refused(std::move(r)), period(p) {}

  Status Refresh() {
    HENB_ASSIGN_OR_RETURN(std::vector<std::string> serials, store.RefusedCertificateSerials());
    refused->Replace(serials);
    return OkStatus();
  }

  void Run() EXCLUDES(mu) {
    std::string last_error;
    MutexLock lock(mu);
    for (;;) {
      const auto deadline = std::chrono::steady_clock::now() + period;
      while (!stopping && lock.WaitUntil(cv, deadline)) {
      }
      if (stopping) return;
      lock.Unlock();
      const Status st = Refresh();
      const std::string error = st.ok() ? "" : st.error().ToString();
      if (!error.empty() && error != last_error) {
        std::cerr << "henbtrust: refused certificates not reloaded (the last list stays): " << error
                  << "\n";
      }
      last_error = error;
      lock.Lock();
    }
  }

  Store& store;
  std::shared_ptr<RefusedCertificates> refused;
  const std::chrono::milliseconds period;
  Mutex mu;
  std::condition_variable cv;
  bool stopping GUARDED_BY(mu) = false;
  std::thread thread;
};

RefusedCertificateSync::RefusedCertificateSync(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

Result<std::unique_ptr<RefusedCertificateSync>> RefusedCertificateSync::Start(
    Store& store, std::shared_ptr<RefusedCertificates> refused, std::chrono::milliseconds period) {
  if (!refused) return Error(ErrorCode::kInvalidArgument, "no set of refused certificates");
  auto impl = std::make_unique<Impl>(store, std::move(refused), period);
  if (auto st = impl->Refresh(); !st.ok()) {
    return st.error().WithContext("reading the refused certificates");
  }
  Impl* raw = impl.get();
  if (period.count() > 0) raw->thread = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<RefusedCertificateSync>(new RefusedCertificateSync(std::move(impl)));
}

RefusedCertificateSync::~RefusedCertificateSync() {
  {
    MutexLock lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Status RefusedCertificateSync::Refresh() { return impl_->Refresh(); }

}  // namespace henbtrust
