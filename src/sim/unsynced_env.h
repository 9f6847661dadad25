// The machine's files and clocks, without fsync: Sync() and SyncDirectory()
// succeed at once and write nothing to the disk. For the devices of a
// simulated fleet, whose files need not survive a power loss of the machine
// that simulates them (the simulator's own power cuts are VirtualEnv's, and
// what a power loss does to unsynced data is the PowerLoss tests' subject,
// on tests/support/simulated_env.h). A device's provisioning and update
// write a few dozen files atomically, each with two fsyncs: on this
// machine's disk that bounded a fleet to about 20 devices enrolled per
// second.
#pragma once

#include "henbtrust/core/env.h"

namespace henbtrust::sim {

// The process's one UnsyncedEnv. Never destroyed.
Env* UnsyncedEnv();

}  // namespace henbtrust::sim
