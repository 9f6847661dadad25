#include "henbtrust/sim/compromise.h"

namespace henbtrust {

Status ImplantActiveSlot(Device& device) {
  const std::string slot = device.boot_control().active;
  const auto manifest = device.SlotManifest(slot);
  if (!manifest || manifest->components.empty()) {
    return Error(ErrorCode::kDeviceState, "the active slot holds no release");
  }
  const std::string image = device.SlotDir(slot) + "/" + manifest->components.back().id + ".img";
  HENB_ASSIGN_OR_RETURN(auto out, device.env()->NewAppendableFile(image));
  HENB_TRY(out->Append(AsBytes("implant")));
  return out->Close();
}

}  // namespace henbtrust
