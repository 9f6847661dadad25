#include "henbtrust/sim/compromise.h"

#include <fstream>

namespace henbtrust {

Status ImplantActiveSlot(Device& device) {
  const std::string slot = device.boot_control().active;
  const auto manifest = device.SlotManifest(slot);
  if (!manifest || manifest->components.empty()) {
    return Error(ErrorCode::kDeviceState, "the active slot holds no release");
  }
  const std::string image = device.SlotDir(slot) + "/" + manifest->components.back().id + ".img";
  std::ofstream out(image, std::ios::app | std::ios::binary);
  out << "implant";
  if (!out) return Error(ErrorCode::kIo, "cannot change " + image);
  return OkStatus();
}

}  // namespace henbtrust
