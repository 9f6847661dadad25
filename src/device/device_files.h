// Private to device/: what device.cc (the slots, install, boot) and
// recovery.cc (the device's side of the boot stage: watchdog, tickets,
// minimal mode, the recovery image) share.
#pragma once

#include <string>

#include "henbtrust/core/env.h"
#include "henbtrust/core/result.h"

namespace henbtrust::device_files {

inline constexpr char kRecovery[] = "recovery";
inline constexpr char kRecoveryStaging[] = "recovery.next";

inline Error StateError(const std::string& what) { return Error(ErrorCode::kDeviceState, what); }

// DIR/NAME.
std::string PathIn(const std::string& dir, const std::string& name);

// SHA-256 of the file at `path`, read in chunks.
Result<Bytes> Sha256OfFile(Env& env, const std::string& path);

}  // namespace henbtrust::device_files
