#include "henbtrust/net/refused_certificates.h"

namespace henbtrust {

bool RefusedCertificates::Contains(std::string_view serial) const {
  MutexLock lock(mu_);
  return serials_.contains(std::string(serial));
}

void RefusedCertificates::Replace(const std::vector<std::string>& serials) {
  std::unordered_set<std::string> next(serials.begin(), serials.end());
  MutexLock lock(mu_);
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (next.contains(*it)) {
      it = pending_.erase(it);
    } else {
      next.insert(*it);
      ++it;
    }
  }
  serials_.swap(next);
}

void RefusedCertificates::Add(const std::string& serial) {
  MutexLock lock(mu_);
  serials_.insert(serial);
  pending_.insert(serial);
}

size_t RefusedCertificates::size() const {
  MutexLock lock(mu_);
  return serials_.size();
}

}  // namespace henbtrust
