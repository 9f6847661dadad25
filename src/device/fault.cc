#include "device/fault.h"

#include <mutex>

namespace henbtrust::fault {

namespace {
std::mutex mu;
int armed = -1;
std::vector<std::string> hits;
}  // namespace

void ArmCrashAt(int hit) {
  std::lock_guard<std::mutex> lock(mu);
  armed = hit;
}

std::vector<std::string> HitsForTest() {
  std::lock_guard<std::mutex> lock(mu);
  return hits;
}

void ResetForTest() {
  std::lock_guard<std::mutex> lock(mu);
  armed = -1;
  hits.clear();
}

Status Hit(const char* name) {
  std::lock_guard<std::mutex> lock(mu);
  const int index = static_cast<int>(hits.size());
  hits.emplace_back(name);
  if (index == armed) {
    armed = -1;
    return Error(ErrorCode::kDeviceCrashForTest, std::string("power lost at ") + name);
  }
  return OkStatus();
}

}  // namespace henbtrust::fault
