#include "sim/virtual_env.h"

#include <algorithm>

namespace henbtrust::sim {

namespace {

bool Under(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         path[dir.size()] == '/';
}

}  // namespace

VirtualEnv::VirtualEnv(Env* files)
    : ForwardingEnv(files), start_(Env::Default()->NowUnixMillis()), millis_(start_) {}

void VirtualEnv::UseMachineClock() {
  steady_start_ = base()->SteadyMillis();
  machine_ = true;
}

void VirtualEnv::CutPowerAfter(const std::string& dir, int after, std::function<void()> on_cut) {
  const std::lock_guard<std::mutex> lock(mu_);
  cuts_[dir] = Cut{std::max(1, after), false, std::move(on_cut)};
}

void VirtualEnv::RestorePower(const std::string& dir) {
  const std::lock_guard<std::mutex> lock(mu_);
  cuts_.erase(dir);
}

bool VirtualEnv::PowerIsCut(const std::string& dir) {
  const std::lock_guard<std::mutex> lock(mu_);
  auto it = cuts_.find(dir);
  return it != cuts_.end() && it->second.cut;
}

Status VirtualEnv::Check(const std::string& path) {
  std::function<void()> on_cut;
  {
    const std::lock_guard<std::mutex> lock(mu_);
    auto it = std::find_if(cuts_.begin(), cuts_.end(),
                           [&](const auto& entry) { return Under(path, entry.first); });
    if (it == cuts_.end()) return OkStatus();
    Cut& c = it->second;
    if (!c.cut) {
      if (--c.left > 0) return OkStatus();
      c.cut = true;
      on_cut = std::move(c.on_cut);
    }
  }
  if (on_cut) on_cut();
  return Error(ErrorCode::kIo, "power lost while writing " + path);
}

}  // namespace henbtrust::sim
