// What an attacker who owns a simulated H(e)NB's operating system does to
// it: a component of the active slot changes on disk, so that the next
// measured boot shows it. Whether the OS also ignores the OAM from then on
// is the simulator's to play (sim/fleet.h, sim/scenario_run.h).
#pragma once

#include "henbtrust/core/result.h"
#include "henbtrust/device/device.h"

namespace henbtrust {

// Appends to the image of the active slot's last component.
// kDeviceState when the active slot holds no release.
Status ImplantActiveSlot(Device& device);

}  // namespace henbtrust
